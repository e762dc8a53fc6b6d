import assert from "node:assert/strict";
import { Logger } from "../../../src/log/logger.ts";
import { type PoolKey, PoolRegistry } from "../../../src/proxy/shared/pool_registry.ts";
import type { UpstreamSpec } from "../../../src/proxy/spec.ts";
import { parseUri } from "../../../src/uri/uri.ts";
import { encodeOpenArgs } from "../../../src/wire/open_args.ts";
import { FakeDaemon } from "../../_helpers/fake_daemon.ts";
import { waitUntil } from "../../_helpers/wait.ts";

function upstream(overrides: Partial<UpstreamSpec> = {}): UpstreamSpec {
  return {
    name: "hv1",
    uri: parseUri("test+unix:///default"),
    connectTimeoutMs: 2000,
    share: true,
    poolMax: 2,
    maxPools: 2,
    maxInflightPerConnection: 4,
    idleMs: 60_000,
    keepaliveIntervalMs: 60_000,
    keepaliveCount: 5,
    ...overrides,
  };
}

function key(spec: UpstreamSpec, overrides: Partial<PoolKey> = {}): PoolKey {
  return {
    upstream: spec,
    openName: "test:///default",
    flags: 0,
    maxFrameBytes: 1 << 20,
    ...overrides,
  };
}

async function setup() {
  const daemon = await FakeDaemon.start();
  const dials: { upstream: string; readonly: boolean }[] = [];
  const registry = new PoolRegistry({
    dial: (spec, readonly) => {
      dials.push({ upstream: spec.name, readonly });
      return daemon.dial();
    },
    logger: new Logger({ sink: () => {}, level: "debug" }),
  });
  return {
    daemon,
    dials,
    registry,
    async finish() {
      registry.closeAll("test over");
      await waitUntil(() => daemon.open.length === 0, "every pool connection to close");
      await daemon.stop();
    },
  };
}

Deno.test("the same key gives the same pool, even from a copy of the upstream spec", async () => {
  const t = await setup();
  try {
    const spec = upstream();
    const pool = t.registry.get(key(spec));
    assert.equal(t.registry.get(key(spec)), pool);
    assert.equal(t.registry.get(key({ ...spec })), pool, "compared by value, not identity");
    assert.equal(t.registry.size, 1);
  } finally {
    await t.finish();
  }
});

Deno.test("a different name, flag set or frame limit gives a different pool", async () => {
  const t = await setup();
  try {
    const spec = upstream({ maxPools: 10 });
    const base = t.registry.get(key(spec));
    const others = [
      t.registry.get(key(spec, { openName: "test:///other" })),
      t.registry.get(key(spec, { openName: null })),
      t.registry.get(key(spec, { flags: 1 })),
      t.registry.get(key(spec, { maxFrameBytes: 4096 })),
      t.registry.get(key(upstream({ name: "hv2" }))),
      t.registry.get(
        key(upstream({ maxPools: 10, uri: parseUri("test+unix:///default?socket=/x") })),
      ),
    ];
    assert.equal(new Set([base, ...others]).size, 7);
    assert.equal(t.registry.size, 7);
  } finally {
    await t.finish();
  }
});

Deno.test("a pool opens its name with its flags, dialling read-only for a read-only open", async () => {
  const t = await setup();
  try {
    const pool = t.registry.get(key(upstream(), { openName: "test:///ro", flags: 1 }));
    await pool.ready();
    assert.deepEqual(t.dials, [{ upstream: "hv1", readonly: true }]);
    assert.deepEqual(
      t.daemon.connections[0].openBody,
      encodeOpenArgs({ name: "test:///ro", flags: 1 }),
    );
  } finally {
    await t.finish();
  }
});

Deno.test("at max_pools an idle pool is closed to make room for a new one", async () => {
  const t = await setup();
  try {
    const spec = upstream({ maxPools: 1 });
    const first = t.registry.get(key(spec));
    await first.ready();
    assert.equal(t.daemon.open.length, 1);
    const second = t.registry.get(key(spec, { flags: 1 }));
    assert.notEqual(second, first);
    assert.equal(t.registry.size, 1);
    await waitUntil(() => t.daemon.open.length === 0, "the idle pool's connection to close");
    assert.notEqual(t.registry.get(key(spec)), first, "the closed pool is forgotten");
  } finally {
    await t.finish();
  }
});

Deno.test("at max_pools with every pool in use, a new open is refused naming the upstream", async () => {
  const t = await setup();
  try {
    const spec = upstream({ maxPools: 1 });
    const first = t.registry.get(key(spec));
    first.reserve(); // a client is opening through it
    assert.throws(() => t.registry.get(key(spec, { openName: "test:///other" })), {
      message: 'virtmux keeps at most 1 pools for upstream "hv1" (max_pools), one per distinct ' +
        "name and read-only flag opened, and all are in use",
    });
    assert.equal(t.registry.get(key(spec)), first, "its own key is still served");
    // Other upstreams count their pools apart.
    t.registry.get(key(upstream({ name: "hv2", maxPools: 1 })));
    assert.equal(t.registry.size, 2);
    first.unreserve();
  } finally {
    await t.finish();
  }
});

Deno.test("dropUnused forgets pools that hold nothing and keeps the others", async () => {
  const t = await setup();
  try {
    const spec = upstream({ maxPools: 5 });
    const empty = t.registry.get(key(spec));
    const connected = t.registry.get(key(spec, { flags: 1 }));
    await connected.ready();
    const reserved = t.registry.get(key(spec, { openName: null }));
    reserved.reserve();
    t.registry.dropUnused();
    assert.equal(t.registry.size, 2);
    assert.notEqual(t.registry.get(key(spec)), empty, "the empty one was dropped");
    assert.equal(t.registry.get(key(spec, { flags: 1 })), connected);
    assert.equal(t.registry.get(key(spec, { openName: null })), reserved);
    assert.equal(t.daemon.open.length, 1, "the kept pool's connection is untouched");
    reserved.unreserve();
  } finally {
    await t.finish();
  }
});
