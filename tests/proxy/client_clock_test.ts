import assert from "node:assert/strict";
import { ClientClock, type ClientTimeouts } from "../../src/proxy/client_clock.ts";

const T0 = 1_000_000;
const OFF: ClientTimeouts = { openMs: 0, frameMs: 0, idleMs: 0 };

Deno.test("open_timeout fires exactly at its bound", () => {
  const clock = new ClientClock(T0);
  const timeouts = { ...OFF, openMs: 1000 };
  assert.equal(clock.expired(T0, timeouts, 0), undefined);
  assert.equal(clock.expired(T0 + 999, timeouts, 0), undefined);
  assert.equal(
    clock.expired(T0 + 1000, timeouts, 0),
    "sent no CONNECT_OPEN within 1 s (open_timeout)",
  );
});

Deno.test("open_timeout counts from connecting, not from the last byte", () => {
  const clock = new ClientClock(T0);
  const timeouts = { ...OFF, openMs: 1500 };
  clock.read(T0 + 1400);
  assert.match(clock.expired(T0 + 1500, timeouts, 0) ?? "", /1\.5 s \(open_timeout\)/);
});

Deno.test("open_timeout stops once the client opened", () => {
  const clock = new ClientClock(T0);
  clock.opened = true;
  assert.equal(clock.expired(T0 + 60_000, { ...OFF, openMs: 1000 }, 0), undefined);
});

Deno.test("open_timeout applies with calls outstanding", () => {
  const clock = new ClientClock(T0);
  assert.match(clock.expired(T0 + 1000, { ...OFF, openMs: 1000 }, 3) ?? "", /open_timeout/);
});

Deno.test("frame_timeout fires exactly at its bound after the last byte", () => {
  const clock = new ClientClock(T0);
  clock.opened = true;
  clock.partial = true;
  clock.read(T0 + 500);
  const timeouts = { ...OFF, frameMs: 1000 };
  assert.equal(clock.expired(T0 + 1499, timeouts, 0), undefined);
  assert.equal(
    clock.expired(T0 + 1500, timeouts, 0),
    "stalled in the middle of a frame for 1 s (frame_timeout)",
  );
});

Deno.test("frame_timeout does not apply between frames", () => {
  const clock = new ClientClock(T0);
  clock.opened = true;
  clock.partial = false;
  assert.equal(clock.expired(T0 + 10_000, { ...OFF, frameMs: 1000 }, 1), undefined);
});

Deno.test("frame_timeout applies with calls outstanding, and resets on each byte", () => {
  const clock = new ClientClock(T0);
  clock.opened = true;
  clock.partial = true;
  const timeouts = { ...OFF, frameMs: 1000 };
  clock.read(T0 + 900);
  assert.equal(clock.expired(T0 + 1800, timeouts, 4), undefined);
  assert.match(clock.expired(T0 + 1900, timeouts, 4) ?? "", /frame_timeout/);
});

Deno.test("idle_timeout fires exactly at its bound", () => {
  const clock = new ClientClock(T0);
  clock.opened = true;
  clock.read(T0 + 100);
  const timeouts = { ...OFF, idleMs: 2000 };
  assert.equal(clock.expired(T0 + 2099, timeouts, 0), undefined);
  assert.equal(clock.expired(T0 + 2100, timeouts, 0), "idle for 2 s (idle_timeout)");
});

Deno.test("idle_timeout is ignored while calls are outstanding", () => {
  const clock = new ClientClock(T0);
  clock.opened = true;
  const timeouts = { ...OFF, idleMs: 1000 };
  assert.equal(clock.expired(T0 + 3_600_000, timeouts, 1), undefined);
  assert.equal(clock.expired(T0 + 3_600_000, timeouts, 32), undefined);
  assert.match(clock.expired(T0 + 3_600_000, timeouts, 0) ?? "", /idle_timeout/);
});

Deno.test("0 turns each timeout off", () => {
  const clock = new ClientClock(T0);
  clock.partial = true;
  const far = T0 + 365 * 24 * 3600 * 1000;
  assert.equal(clock.expired(far, OFF, 0), undefined);
  assert.equal(
    clock.expired(far, { ...OFF, frameMs: 1000, idleMs: 1000 }, 0)?.includes("open"),
    false,
  );
  clock.opened = true;
  assert.match(clock.expired(far, { ...OFF, idleMs: 1000 }, 0) ?? "", /idle_timeout/);
  assert.match(clock.expired(far, { ...OFF, frameMs: 1000 }, 0) ?? "", /frame_timeout/);
  clock.partial = false;
  assert.equal(clock.expired(far, { ...OFF, frameMs: 1000 }, 0), undefined);
});

Deno.test("open_timeout is reported before the others", () => {
  const clock = new ClientClock(T0);
  clock.partial = true;
  const all = { openMs: 1000, frameMs: 1000, idleMs: 1000 };
  assert.match(clock.expired(T0 + 1000, all, 0) ?? "", /open_timeout/);
  clock.opened = true;
  assert.match(clock.expired(T0 + 1000, all, 0) ?? "", /frame_timeout/);
});

Deno.test("sub-second timeouts are named with one decimal", () => {
  const clock = new ClientClock(T0);
  assert.match(clock.expired(T0 + 250, { ...OFF, openMs: 250 }, 0) ?? "", /within 0\.3 s/);
});
