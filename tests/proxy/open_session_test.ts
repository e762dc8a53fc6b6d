/**
 * openSession picks the session kind by the upstream's mode; sharedPool picks the pool an open
 * reaches, by route and allow_dns.
 */

import assert from "node:assert/strict";
import { listenerSpec, upstreamSpec } from "../_helpers/specs.ts";
import type { ListenerSpec } from "../../src/proxy/spec.ts";
import { Logger } from "../../src/log/logger.ts";
import { DedicatedSession } from "../../src/proxy/dedicated/session.ts";
import { openSession, sharedPool } from "../../src/proxy/open_session.ts";
import { PoolRegistry } from "../../src/proxy/shared/pool_registry.ts";
import { SharedSession } from "../../src/proxy/shared/session.ts";
import { UpstreamError } from "../../src/proxy/upstream_error.ts";
import type { Channel } from "../../src/transport/channel.ts";
import { ErrorCode } from "../../src/wire/constants.ts";
import { socketPair } from "../_helpers/socket_pair.ts";

const LOG = new Logger({ level: "error" });

function registry(dials: string[]): PoolRegistry {
  return new PoolRegistry({
    dial: (up) => {
      dials.push(up.name);
      return Promise.reject(new Error("no daemon in this test"));
    },
    logger: LOG,
  });
}

Deno.test("openSession: a shared upstream gets a shared session, which dials nothing yet", async () => {
  const pair = await socketPair();
  const dials: string[] = [];
  const pools = registry(dials);
  const session = openSession(pair.a, listenerSpec("/run/a.sock", upstreamSpec("s1", true)), {
    id: 7,
    logger: LOG,
    dial: (up) => {
      dials.push(up.name);
      return new Promise<Channel>(() => {});
    },
    pools,
  });
  assert.ok(session instanceof SharedSession);
  assert.equal(session.id, 7);
  assert.deepEqual(dials, []);
  assert.equal(pools.size, 0);
  pair.close();
});

Deno.test("openSession: a dedicated upstream is dialed at once, read-only when the listener is", async () => {
  const pair = await socketPair();
  const dials: [string, boolean][] = [];
  const session = openSession(
    pair.a,
    listenerSpec("/run/a.sock", upstreamSpec("hv1", false), { readonly: true }),
    {
      id: 1,
      logger: LOG,
      dial: (up, readonly) => {
        dials.push([up.name, readonly]);
        return new Promise<Channel>(() => {});
      },
      pools: registry([]),
    },
  );
  assert.ok(session instanceof DedicatedSession);
  assert.deepEqual(dials, [["hv1", true]]);
  pair.close();
});

Deno.test("sharedPool: a routed name reaches its upstream with that upstream's open name", () => {
  const pools = registry([]);
  const s2 = upstreamSpec("s2", true, "qemu+unix:///system");
  const spec = listenerSpec("/run/a.sock", upstreamSpec("s1", true), {
    routes: new Map([["s2", s2]]),
  });
  const routed = sharedPool(pools, spec, "s2", 0);
  const key = [...pools.pools()].find((entry) => entry.pool === routed)!.key;
  assert.equal(key.upstream, s2);
  assert.equal(key.openName, s2.uri.openName);
  assert.equal(key.maxFrameBytes, 1 << 20);
  const own = sharedPool(pools, spec, "test:///default", 0);
  const ownKey = [...pools.pools()].find((entry) => entry.pool === own)!.key;
  assert.equal(ownKey.upstream, spec.upstream);
  assert.equal(ownKey.openName, "test:///default");
  assert.equal(sharedPool(pools, spec, "s2", 0), routed, "the same open shares the pool");
  assert.equal(pools.size, 2);
  pools.closeAll("test over");
});

Deno.test("sharedPool: allow_dns refuses a DN it does not list, with ACCESS_DENIED", () => {
  const pools = registry([]);
  const spec = listenerSpec("/run/a.sock", upstreamSpec("s1", true), {
    socket: "tls://[::]:16514",
    front: { kind: "tls", hostname: "::", port: 16514, allowDns: new Map([["s1", ["CN=ops"]]]) },
  } as unknown as Partial<ListenerSpec>);
  assert.throws(
    () => sharedPool(pools, spec, null, 0, "CN=bob"),
    (error: unknown) =>
      error instanceof UpstreamError && error.code === ErrorCode.ACCESS_DENIED &&
      /"CN=bob" to reach upstream "s1"/.test(error.message),
  );
  assert.equal(pools.size, 0);
  assert.ok(sharedPool(pools, spec, null, 0, "CN=ops"));
  pools.closeAll("test over");
});
