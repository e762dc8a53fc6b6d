import assert from "node:assert/strict";
import { formatAliases, uriAliases } from "../../src/cli/aliases.ts";
import { parseConfig } from "../../src/config/load.ts";
import { parseUri } from "../../src/uri/uri.ts";

const CONFIG = `
[[upstream]]
name = "hv1"
uri = "qemu+tls://hv1.example.com/system"
share = true

[[upstream]]
name = "hv2"
uri = "qemu+ssh://root@hv2/system?keyfile=/k"
share = true

[[upstream]]
name = "lab"
uri = "test+tcp://192.0.2.5/default?x=1"

[[upstream]]
name = "unused"
uri = "qemu+tcp://192.0.2.9/system"

[[listen]]
socket = "/run/virtmux/hv1-ro.sock"
upstream = "hv1"
readonly = true

[[listen]]
socket = "/run/virtmux/hv1.sock"
upstream = "hv1"
route_by_name = true
allow_upstreams = ["hv2"]

[[listen]]
socket = "/run/virtmux/lab.sock"
upstream = "lab"
`;

Deno.test("uriAliases() gives each reachable upstream its name, read-write listeners first", () => {
  const aliases = uriAliases(parseConfig(CONFIG, "a.toml"));
  assert.deepEqual(aliases, [
    { name: "hv1", uri: "qemu+unix:///system?socket=/run/virtmux/hv1.sock" },
    { name: "hv2", uri: "qemu+unix:///system?socket=/run/virtmux/hv1.sock&name=hv2" },
    { name: "lab", uri: "test+unix:///default?x=1&socket=/run/virtmux/lab.sock" },
  ]);
});

Deno.test("every alias URI is one libvirt accepts and that reaches the listener's socket", () => {
  for (const alias of uriAliases(parseConfig(CONFIG, "a.toml"))) {
    const uri = parseUri(alias.uri);
    assert.equal(uri.transport, "unix");
    assert.match(uri.options.socket ?? "", /^\/run\/virtmux\/(hv1|lab)\.sock$/);
  }
});

Deno.test("formatAliases() prints a uri_aliases setting for libvirt.conf", () => {
  const text = formatAliases([{ name: "hv1", uri: "qemu+unix:///system?socket=/s" }]);
  assert.match(text, /^uri_aliases = \[\n {2}"hv1=qemu\+unix:\/\/\/system\?socket=\/s",\n\]$/m);
  assert.match(formatAliases([]), /no upstream/);
});
