import assert from "node:assert/strict";
import { helperRoute } from "../../src/cli/helper_route.ts";
import { parseConfig } from "../../src/config/load.ts";

const UPSTREAMS = `
[[upstream]]
name = "hv1"
uri = "qemu+tls://hv1.example.com/system"
share = true

[[upstream]]
name = "hv2"
uri = "qemu+ssh://root@hv2/system"
share = true

[[upstream]]
name = "lab"
uri = "test+tcp://192.0.2.5/default"
share = true
`;

const ROUTED = parseConfig(
  `${UPSTREAMS}
[[listen]]
socket = "/run/virtmux/plain.sock"
upstream = "lab"

[[listen]]
socket = "/run/virtmux/bastion.sock"
upstream = "hv1"
route_by_name = true
allow_upstreams = ["hv1", "hv2"]
`,
  "bastion.toml",
);

Deno.test("helperRoute: the route_by_name listener is the routing table", async (t) => {
  const cases: [string, string | undefined, string | undefined][] = [
    // uri, upstream reached, open name sent instead of the client's
    ["qemu:///system", "hv1", undefined],
    ["hv2", "hv2", "qemu:///system"],
    ["hv1", "hv1", "qemu:///system"],
    ["lab (not allowed by that listener)", undefined, undefined],
    ["test:///default (lab's open name, not allowed)", undefined, undefined],
  ];
  for (const [text, upstream, rename] of cases) {
    await t.step(text, () => {
      const uri = text.split(" ")[0];
      const route = helperRoute(ROUTED, uri);
      if (upstream === undefined) {
        assert.equal(typeof route, "string");
        assert.match(route as string, new RegExp(`no route for "${uri}"`));
        assert.match(route as string, /"hv1" \(\?name=hv1\) or "qemu:\/\/\/system"/);
        return;
      }
      assert.notEqual(typeof route, "string", String(route));
      if (typeof route === "string") return;
      assert.equal(route.upstream.name, upstream);
      assert.equal(route.rename, rename);
      assert.equal(route.listener?.socket, "/run/virtmux/bastion.sock");
    });
  }
});

Deno.test("helperRoute: without listeners every upstream may be reached", () => {
  const config = parseConfig(UPSTREAMS, "ext.toml");
  const byOpenName = helperRoute(config, "test:///default");
  assert.ok(typeof byOpenName !== "string");
  assert.equal(byOpenName.upstream.name, "lab");
  assert.equal(byOpenName.listener, undefined);
  const first = helperRoute(config, "qemu:///system");
  assert.ok(typeof first !== "string");
  assert.equal(first.upstream.name, "hv1");
  assert.match(helperRoute(config, "lxc:///") as string, /no route for "lxc:\/\/\/"/);
});
