import assert from "node:assert/strict";
import { Logger } from "../../../src/log/logger.ts";
import { ConnectionScheduler, type SchedulerOptions } from "../../../src/proxy/shared/scheduler.ts";
import type { UpstreamConnection } from "../../../src/proxy/shared/upstream_connection.ts";
import { UpstreamError } from "../../../src/proxy/upstream_error.ts";
import { ErrorCode } from "../../../src/wire/constants.ts";
import { delay, settledWithin, waitUntil } from "../../_helpers/wait.ts";

/** All the scheduler uses of a connection: whether it is closed, and closing it. */
class FakeConnection {
  closed = false;
  closeReason: string | undefined;
  constructor(readonly name: string) {}
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
  }
}

function asConnection(fake: FakeConnection): UpstreamConnection {
  return fake as unknown as UpstreamConnection;
}

function nameOf(connection: UpstreamConnection): string {
  return (connection as unknown as FakeConnection).name;
}

/**
 * A scheduler whose `open` makes fake connections named c1, c2, ... unless `dial` is replaced;
 * every open and the connections made are recorded.
 */
function setup(options: Partial<SchedulerOptions> & { dial?: () => Promise<FakeConnection> } = {}) {
  const made: FakeConnection[] = [];
  const opened: string[] = [];
  const streams = new Map<string, number>();
  const holding = new Set<string>();
  let dials = 0;
  const dial = options.dial ?? (() => {
    const connection = new FakeConnection(`c${made.length + 1}`);
    made.push(connection);
    return Promise.resolve(connection);
  });
  const scheduler = new ConnectionScheduler({
    poolMax: 2,
    maxInflightPerConnection: 2,
    idleMs: 60_000,
    open: async () => {
      dials++;
      return asConnection(await dial());
    },
    onOpen: (connection) => opened.push(nameOf(connection)),
    streamsOn: (connection) => streams.get(nameOf(connection)) ?? 0,
    holdsState: (connection) => holding.has(nameOf(connection)),
    logger: new Logger({ sink: () => {}, level: "debug" }),
    ...options,
  });
  return {
    scheduler,
    made,
    opened,
    streams,
    holding,
    get dials() {
      return dials;
    },
    /** Takes a slot, by name, whether at once or after waiting. */
    async acquire(forStream = false, heavy = false): Promise<string> {
      return nameOf(await scheduler.acquire(forStream, heavy));
    },
  };
}

Deno.test("a dial that throws synchronously does not stop the scheduler from dialling again", async () => {
  let dials = 0;
  let fail = true;
  const good = new FakeConnection("good");
  const scheduler = new ConnectionScheduler({
    poolMax: 2,
    maxInflightPerConnection: 2,
    idleMs: 60_000,
    // Not an async function: the throw happens inside the call, not in a returned promise.
    open: () => {
      dials++;
      if (fail) throw new Error("Cannot dial: bad socket path");
      return Promise.resolve(asConnection(good));
    },
    onOpen: () => {},
    streamsOn: () => 0,
    holdsState: () => false,
    logger: new Logger({ sink: () => {}, level: "debug" }),
  });
  try {
    await assert.rejects(scheduler.ready(), (error) => {
      assert.ok(error instanceof UpstreamError);
      assert.equal(error.message, "Cannot dial: bad socket path");
      return true;
    });
    assert.equal(dials, 1);
    fail = false;
    await delay(300); // past the first backoff of 250 ms
    await scheduler.ready().catch((error) =>
      assert.fail(`ready() after the backoff failed after ${dials} dial(s): ${error.message}`)
    );
    assert.equal(dials, 2, "dialled again after the backoff");
    assert.equal(scheduler.size, 1);
    assert.equal(nameOf(await scheduler.acquire(false)), "good");
  } finally {
    scheduler.close("test over");
  }
});

Deno.test("ready() opens one connection and reuses it", async () => {
  const t = setup();
  try {
    await t.scheduler.ready();
    await t.scheduler.ready();
    assert.equal(t.dials, 1);
    assert.deepEqual(t.opened, ["c1"]);
    assert.equal(t.scheduler.size, 1);
    assert.equal(t.scheduler.opened, 1);
    assert.deepEqual([...t.scheduler.connections()].map(nameOf), ["c1"]);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("a call goes on the least-loaded connection with room", async () => {
  const t = setup({ poolMax: 2, maxInflightPerConnection: 2 });
  try {
    assert.equal(await t.acquire(), "c1");
    assert.equal(await t.acquire(), "c1", "room left: no second connection yet");
    assert.equal(await t.acquire(), "c2", "c1 full: the pool grows");
    assert.equal(await t.acquire(), "c2");
    const [c1, c2] = t.made.map(asConnection);
    t.scheduler.release(c1);
    assert.equal(await t.acquire(), "c1", "the one with room");
    t.scheduler.release(c2);
    t.scheduler.release(c2);
    t.scheduler.release(c1);
    assert.equal(await t.acquire(), "c2", "c2 empty, c1 with one call");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("a stream-opening call avoids a connection that carries a stream", async () => {
  const t = setup({ poolMax: 2, maxInflightPerConnection: 4 });
  try {
    for (let i = 0; i < 4; i++) assert.equal(await t.acquire(), "c1");
    assert.equal(await t.acquire(), "c2");
    const [c1] = t.made.map(asConnection);
    for (let i = 0; i < 4; i++) t.scheduler.release(c1);
    t.streams.set("c1", 1);
    assert.equal(await t.acquire(true), "c2", "c1 is empty but carries a stream");
    assert.equal(await t.acquire(true), "c2", "a stream weighs a whole connection's worth");
    assert.equal(await t.acquire(false), "c1", "for a plain call the stream weighs one call");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("a stream-opening call grows the pool rather than join a connection with a stream", async () => {
  const t = setup({ poolMax: 2, maxInflightPerConnection: 4 });
  try {
    await t.scheduler.ready();
    t.streams.set("c1", 1);
    assert.equal(await t.acquire(true), "c2");
    assert.equal(t.dials, 2);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("a small call avoids a connection carrying a heavy call, growing the pool for it", async () => {
  const t = setup({ poolMax: 3, maxInflightPerConnection: 8 });
  try {
    assert.equal(await t.acquire(false, true), "c1");
    assert.equal(await t.acquire(), "c2", "c1 carries a heavy call: a new connection");
    assert.equal(await t.acquire(), "c2");
    assert.equal(t.dials, 2);
    const [c1] = t.made.map(asConnection);
    t.scheduler.release(c1, true);
    assert.equal(await t.acquire(), "c1", "the heavy call answered, c1 is the least loaded");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("heavy calls go one per connection and leave one connection free of them", async () => {
  const t = setup({ poolMax: 3, maxInflightPerConnection: 8 });
  try {
    const order: string[] = [];
    const heavies = ["h1", "h2", "h3"].map((name) =>
      Promise.resolve(t.scheduler.acquire(false, true)).then((connection) => {
        order.push(`${name}@${nameOf(connection)}`);
        return connection;
      })
    );
    await waitUntil(() => order.length === 2, "two heavy calls placed");
    await delay(20);
    assert.deepEqual(
      order.sort(),
      ["h1@c1", "h2@c2"],
      "the third waits: one connection stays free",
    );
    const small = await Promise.all([t.acquire(), t.acquire()]);
    assert.deepEqual(small, ["c3", "c3"], "small calls take the connection free of heavy ones");
    assert.deepEqual(order.length, 2, "a small call's slot is not a heavy one's");
    const [c1] = t.made.map(asConnection);
    t.scheduler.release(c1, true);
    await Promise.all(heavies);
    assert.equal(order[2], "h3@c1", "the heavy call waited for c1 to be free of its heavy call");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("with poolMax 1, heavy calls take turns on the one connection and small calls pass", async () => {
  const t = setup({ poolMax: 1, maxInflightPerConnection: 8 });
  try {
    assert.equal(await t.acquire(false, true), "c1");
    let second = "";
    const waiting = t.acquire(false, true).then((name) => (second = name));
    assert.equal(await t.acquire(), "c1", "a small call goes on at once");
    await delay(20);
    assert.equal(second, "", "the second heavy call waits for the first's answer");
    t.scheduler.release(asConnection(t.made[0]), true);
    await waiting;
    assert.equal(second, "c1");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("the pool grows up to poolMax, then callers wait in arrival order", async () => {
  const t = setup({ poolMax: 2, maxInflightPerConnection: 1 });
  try {
    const first = await Promise.all([t.acquire(), t.acquire()]);
    assert.deepEqual(new Set(first), new Set(["c1", "c2"]));
    const order: string[] = [];
    const waiting = ["w1", "w2", "w3"].map((name) =>
      Promise.resolve(t.scheduler.acquire(false)).then((connection) => {
        order.push(`${name}@${nameOf(connection)}`);
      })
    );
    await delay(20);
    assert.deepEqual(order, [], "all full: every caller waits");
    assert.equal(t.dials, 2, "no dial past poolMax");
    const [c1, c2] = t.made.map(asConnection);
    t.scheduler.release(c2);
    await waitUntil(() => order.length === 1, "the first waiter");
    t.scheduler.release(c1);
    await waitUntil(() => order.length === 2, "the second waiter");
    t.scheduler.release(c2);
    await Promise.all(waiting);
    assert.deepEqual(order, ["w1@c2", "w2@c1", "w3@c2"]);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("a burst before any connection is open is served as connections open", async () => {
  const t = setup({ poolMax: 3, maxInflightPerConnection: 2 });
  try {
    const names = await Promise.all(Array.from({ length: 6 }, () => t.acquire()));
    assert.equal(t.dials, 3);
    assert.deepEqual(names.sort(), ["c1", "c1", "c2", "c2", "c3", "c3"]);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("failed opens back off, doubling, and return the last error at once meanwhile", async () => {
  let refuse = true;
  let dials = 0;
  const t = setup({
    dial: () => {
      dials++;
      return refuse
        ? Promise.reject(new UpstreamError("refused", ErrorCode.AUTH_FAILED, 13))
        : Promise.resolve(new FakeConnection("late"));
    },
  });
  try {
    let first: unknown;
    await assert.rejects(t.scheduler.ready(), (error) => {
      first = error;
      assert.ok(error instanceof UpstreamError);
      assert.equal(error.code, ErrorCode.AUTH_FAILED, "the daemon's own code is kept");
      return true;
    });
    const started = performance.now();
    await assert.rejects(t.scheduler.ready(), (error) => error === first);
    await assert.rejects(Promise.resolve(t.scheduler.acquire(false)), (error) => error === first);
    assert.ok(performance.now() - started < 50, "failed at once, without dialling");
    assert.equal(dials, 1);

    await delay(300); // the first backoff: 250 ms
    await assert.rejects(t.scheduler.ready());
    assert.equal(dials, 2);
    await delay(300); // the second backoff is 500 ms: still backing off
    await assert.rejects(t.scheduler.ready());
    assert.equal(dials, 2, "no dial 300 ms into a 500 ms backoff");
    refuse = false;
    await delay(250);
    await t.scheduler.ready();
    assert.equal(dials, 3);
    assert.equal(t.scheduler.size, 1);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("a failed open fails every caller waiting for a connection", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const t = setup({
    dial: async () => {
      await gate;
      throw new Error("Cannot connect: refused");
    },
  });
  try {
    const waiters = [t.scheduler.acquire(false), t.scheduler.acquire(false)];
    release();
    for (const waiter of waiters) {
      await assert.rejects(Promise.resolve(waiter), { message: "Cannot connect: refused" });
    }
    await delay(0);
    assert.equal(t.scheduler.empty, true);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("calls pinned to a connection get its next free slot before other waiters", async () => {
  const t = setup({ poolMax: 1, maxInflightPerConnection: 1 });
  try {
    assert.equal(await t.acquire(), "c1");
    const c1 = asConnection(t.made[0]);
    const order: string[] = [];
    const other = Promise.resolve(t.scheduler.acquire(false)).then(() => order.push("other"));
    const pinned = t.scheduler.acquireOn(c1);
    assert.ok(pinned instanceof Promise, "full: the pinned call waits");
    const pinnedDone = pinned.then(() => order.push("pinned"));
    await delay(10);
    t.scheduler.release(c1);
    await pinnedDone;
    assert.deepEqual(order, ["pinned"], "the pinned call first, though it came later");
    t.scheduler.release(c1);
    await other;
    assert.deepEqual(order, ["pinned", "other"]);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("acquireOn takes a slot at once when there is room, and nothing for an unknown one", async () => {
  const t = setup({ poolMax: 1, maxInflightPerConnection: 1 });
  try {
    await t.scheduler.ready();
    const c1 = asConnection(t.made[0]);
    assert.equal(t.scheduler.acquireOn(c1), undefined, "taken at once");
    const next = t.scheduler.acquire(false);
    assert.ok(next instanceof Promise, "the slot is taken");
    assert.equal(t.scheduler.acquireOn(asConnection(new FakeConnection("x"))), undefined);
    t.scheduler.release(c1);
    assert.equal(nameOf(await next), "c1");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("losing a connection wakes the calls pinned to it, which see it closed", async () => {
  const t = setup({ poolMax: 1, maxInflightPerConnection: 1 });
  try {
    await t.acquire();
    const c1 = t.made[0];
    const pinned = t.scheduler.acquireOn(asConnection(c1));
    assert.ok(pinned instanceof Promise);
    assert.equal(await settledWithin(pinned, 20), "pending");
    c1.close("died");
    t.scheduler.lost(asConnection(c1));
    assert.equal(await settledWithin(pinned, 500), "settled");
    assert.equal(c1.closed, true);
    assert.equal(t.scheduler.size, 0);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("losing the last connection reopens one for the callers still waiting", async () => {
  const t = setup({ poolMax: 1, maxInflightPerConnection: 1 });
  try {
    await t.acquire();
    const waiting = t.scheduler.acquire(false);
    const c1 = t.made[0];
    c1.close("died");
    t.scheduler.lost(asConnection(c1));
    assert.equal(nameOf(await waiting), "c2");
    assert.equal(t.scheduler.retired(asConnection(c1)), false, "a failure, not retired");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("an idle connection closes after idleMs; one holding state stays open", async () => {
  const t = setup({ idleMs: 100, maxInflightPerConnection: 1 });
  try {
    await Promise.all([t.acquire(), t.acquire()]);
    const [c1, c2] = t.made;
    t.holding.add("c2");
    t.scheduler.release(asConnection(c1));
    t.scheduler.release(asConnection(c2));
    const released = Date.now();
    await waitUntil(() => c1.closed, "the idle connection to close", 2000);
    const idle = Date.now() - released;
    assert.ok(idle >= 90, `closed after ${idle} ms`);
    assert.match(c1.closeReason ?? "", /^idle for /);
    assert.equal(t.scheduler.retired(asConnection(c1)), true, "the pool closed it itself");
    await delay(200);
    assert.equal(c2.closed, false, "state keeps it open");
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("a connection with a call outstanding is not idle", async () => {
  const t = setup({ idleMs: 60 });
  try {
    await t.acquire();
    await delay(250);
    assert.equal(t.made[0].closed, false);
  } finally {
    t.scheduler.close("test over");
  }
});

Deno.test("close() closes every connection as retired", async () => {
  const t = setup();
  await Promise.all([t.acquire(), t.acquire(), t.acquire()]);
  t.scheduler.close("shutting down");
  assert.ok(t.made.length > 0);
  for (const connection of t.made) {
    assert.equal(connection.closeReason, "shutting down");
    assert.equal(t.scheduler.retired(asConnection(connection)), true);
  }
});
