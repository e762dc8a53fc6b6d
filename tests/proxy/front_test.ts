import assert from "node:assert/strict";
import { dnRefusal } from "../../src/proxy/front.ts";
import type { ListenerSpec, UpstreamSpec } from "../../src/proxy/spec.ts";

const upstream = (name: string) => ({ name }) as UpstreamSpec;
const front = (allowDns: [string, string[]][]) =>
  ({
    socket: "tls://[::]:16514",
    front: { kind: "tls", hostname: "::", port: 16514, allowDns: new Map(allowDns) },
  }) as unknown as ListenerSpec;

Deno.test("front: allow_dns limits only the upstreams it names", () => {
  const spec = front([["hv8", ["O=Example,CN=ops-*"]]]);
  assert.equal(dnRefusal(spec, upstream("hv7"), "O=Example,CN=bob"), undefined);
  assert.equal(dnRefusal(spec, upstream("hv7"), undefined), undefined);
  assert.equal(dnRefusal(spec, upstream("hv8"), "O=Example,CN=ops-ann"), undefined);
  assert.equal(
    dnRefusal(spec, upstream("hv8"), "O=Example,CN=bob"),
    'virtmux does not allow "O=Example,CN=bob" to reach upstream "hv8" through ' +
      '"tls://[::]:16514": not in the listener\'s allow_dns',
  );
  assert.match(dnRefusal(spec, upstream("hv8"), undefined)!, /a client without a certificate/);
});

Deno.test("front: a socket listener has no allow_dns", () => {
  const spec = { socket: "/run/a.sock" } as unknown as ListenerSpec;
  assert.equal(dnRefusal(spec, upstream("hv1"), undefined), undefined);
});
