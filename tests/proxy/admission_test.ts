import assert from "node:assert/strict";
import { admissionRefusal, clientIdentity, clientLogFields } from "../../src/proxy/admission.ts";
import { Policy } from "../../src/proxy/policy.ts";
import type { ListenerSpec, UpstreamSpec } from "../../src/proxy/spec.ts";
import type { AcceptedClient } from "../../src/transport/unix_listener.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { ALL_PROGRAMS, ErrorCode } from "../../src/wire/constants.ts";

const UPSTREAM = {
  name: "hv1",
  uri: parseUri("qemu+tls://hv1.example.org/system"),
  connectTimeoutMs: 10_000,
  share: false,
  poolMax: 1,
  maxPools: 1,
  maxInflightPerConnection: 1,
  idleMs: 1,
  keepaliveIntervalMs: 1,
  keepaliveCount: 1,
} as UpstreamSpec;

function listener(options: Partial<ListenerSpec> = {}): ListenerSpec {
  return {
    socket: "/run/virtmux/a.sock",
    mode: 0o660,
    readonly: false,
    upstream: UPSTREAM,
    maxFrameBytes: 1 << 20,
    maxInflightPerClient: 32,
    maxClients: 10,
    programs: ALL_PROGRAMS,
    policy: new Policy({ listener: "/run/virtmux/a.sock", deny: [], allow: [] }),
    timeouts: { openMs: 0, frameMs: 0, idleMs: 0 },
    routes: new Map(),
    allowUids: new Set(),
    allowGids: new Set(),
    ...options,
  };
}

const channel = {} as AcceptedClient["channel"];
const ROOM = { total: 0, maxTotal: 100, onListener: 0 };
const peer = (uid: number) => ({ channel, peer: { uid, gid: uid, pid: 42, groups: [] } });

Deno.test("a client is admitted when nothing refuses it", () => {
  assert.equal(admissionRefusal(listener(), { channel }, ROOM), undefined);
});

Deno.test("allow_uids: a listed uid is admitted, another is refused as access denied", () => {
  const spec = listener({ allowUids: new Set([1000]) });
  assert.equal(admissionRefusal(spec, peer(1000) as AcceptedClient, ROOM), undefined);
  const refused = admissionRefusal(spec, peer(1001) as AcceptedClient, ROOM);
  assert.equal(refused?.code, ErrorCode.ACCESS_DENIED);
  assert.equal(refused?.counted, "peer_credentials");
  assert.match(
    refused?.message ?? "",
    /does not allow uid 1001 \(gid 1001\) on "\/run\/virtmux\/a\.sock"/,
  );
});

Deno.test("allow_uids without readable credentials refuses and says why", () => {
  const spec = listener({ allowUids: new Set([0]) });
  const refused = admissionRefusal(spec, { channel, peerError: "EINVAL" }, ROOM);
  assert.match(refused?.message ?? "", /cannot tell who connected .*\(EINVAL\)/);
});

Deno.test("the client limits: over all listeners first, then this one's", () => {
  const spec = listener({ maxClients: 3 });
  const all = admissionRefusal(spec, { channel }, { total: 100, maxTotal: 100, onListener: 0 });
  assert.match(all?.message ?? "", /limit of 100 clients/);
  assert.equal(all?.counted, "max_clients");
  const mine = admissionRefusal(spec, { channel }, { total: 3, maxTotal: 100, onListener: 3 });
  assert.match(mine?.message ?? "", /limit of 3 clients on "\/run\/virtmux\/a\.sock"/);
  assert.equal(mine?.code, ErrorCode.RPC);
});

Deno.test("identity and log fields carry credentials, address and certificate DN", () => {
  const accepted = {
    channel,
    peer: { uid: 7, gid: 8, pid: 9, groups: [] },
    address: "192.0.2.1:5000",
    certificateDn: "CN=alice",
  } as AcceptedClient;
  assert.deepEqual(clientIdentity(listener(), accepted, 5), {
    listener: "/run/virtmux/a.sock",
    client: 5,
    address: "192.0.2.1:5000",
    certificateDn: "CN=alice",
    uid: 7,
    gid: 8,
    pid: 9,
  });
  assert.deepEqual(clientLogFields(listener(), accepted, 5), {
    listener: "/run/virtmux/a.sock",
    client: 5,
    upstream: "hv1",
    pid: 9,
    uid: 7,
    peer: "192.0.2.1:5000",
    dn: "CN=alice",
  });
});
