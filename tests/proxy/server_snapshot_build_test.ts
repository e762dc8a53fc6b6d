import assert from "node:assert/strict";
import { listenerSpec, upstreamSpec } from "../_helpers/specs.ts";
import { Logger } from "../../src/log/logger.ts";
import { DedicatedSession } from "../../src/proxy/dedicated/session.ts";
import { buildSnapshot } from "../../src/proxy/server_snapshot_build.ts";
import { Pool } from "../../src/proxy/shared/pool.ts";
import type { Channel } from "../../src/transport/channel.ts";
import { CONNECT_RO } from "../../src/wire/constants.ts";

const LOG = new Logger({ level: "error" });

const IDLE_CHANNEL: Channel = {
  read: () => new Promise(() => {}),
  write: (data) => Promise.resolve(data.length),
  closeWrite: () => Promise.resolve(),
  close: () => {},
};

Deno.test("a snapshot gathers listeners, clients, dedicated connections and pools", () => {
  const own = upstreamSpec("own", false);
  const pooled = upstreamSpec("pooled", true);
  const session = new DedicatedSession(IDLE_CHANNEL, new Promise(() => {}), {
    logger: LOG,
    upstreamLabel: '"own"',
    maxFrameBytes: 1 << 20,
    maxInflight: 32,
  });
  const pool = new Pool({
    label: '"pooled"',
    openName: "test:///default",
    openFlags: CONNECT_RO,
    poolMax: 2,
    maxInflightPerConnection: 5,
    maxFrameBytes: 1 << 20,
    idleMs: 60000,
    keepaliveIntervalMs: 5000,
    keepaliveCount: 5,
    connectTimeoutMs: 1000,
    dial: () => Promise.reject(new Error("no dial in this test")),
    logger: LOG,
  });
  try {
    const snapshot = buildSnapshot({
      startedAt: 5,
      listeners: [
        { spec: listenerSpec("/a.sock", own), clients: 1 },
        { spec: listenerSpec("/b.sock", pooled), clients: 0 },
      ],
      clients: [{
        session,
        info: { id: 9, listener: "/a.sock", upstream: "own", shared: false, since: 7, uid: 1 },
      }],
      pools: [{
        key: { upstream: pooled, openName: "test:///default", flags: CONNECT_RO, maxFrameBytes: 1 },
        pool,
      }],
    });
    assert.equal(snapshot.pid, Deno.pid);
    assert.equal(snapshot.startedAt, 5);
    assert.deepEqual(snapshot.listeners, [
      { socket: "/a.sock", upstream: "own", readonly: false, clients: 1 },
      { socket: "/b.sock", upstream: "pooled", readonly: false, clients: 0 },
    ]);
    assert.deepEqual(snapshot.clients, [{
      id: 9,
      listener: "/a.sock",
      upstream: "own",
      shared: false,
      since: 7,
      uid: 1,
      inflight: 0,
    }]);
    assert.deepEqual(snapshot.upstreams.map((u) => [u.name, u.shared, u.opening, u.idle, u.busy]), [
      ["own", false, 1, 0, 0],
      ["pooled", true, 0, 0, 0],
    ]);
    assert.equal(snapshot.pools.length, 1);
    assert.equal(snapshot.pools[0].readonly, true);
    assert.equal(snapshot.pools[0].openName, "test:///default");
    assert.equal(snapshot.pools[0].connections, 0);
    assert.equal(snapshot.pools[0].queued, 0);
  } finally {
    session.close("test over");
    pool.close("test over");
  }
});
