import assert from "node:assert/strict";
import { Policy } from "../../src/proxy/policy.ts";
import {
  checksPeers,
  type ListenerSpec,
  upstreamLabel,
  type UpstreamSpec,
} from "../../src/proxy/spec.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { ALL_PROGRAMS } from "../../src/wire/constants.ts";

const UPSTREAM: UpstreamSpec = {
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
};

function listener(allowUids: number[], allowGids: number[]): ListenerSpec {
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
    allowUids: new Set(allowUids),
    allowGids: new Set(allowGids),
  };
}

Deno.test("an upstream is named in messages by its name and URI", () => {
  assert.equal(upstreamLabel(UPSTREAM), '"hv1" (qemu+tls://hv1.example.org/system)');
});

Deno.test("peers are checked when either allow list is set, else the socket mode decides", () => {
  assert.equal(checksPeers(listener([], [])), false);
  assert.equal(checksPeers(listener([1000], [])), true);
  assert.equal(checksPeers(listener([], [27])), true);
  assert.equal(checksPeers(listener([0], [27])), true);
});
