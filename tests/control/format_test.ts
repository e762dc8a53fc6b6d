import assert from "node:assert/strict";
import {
  formatClients,
  formatDuration,
  formatStatus,
  formatTime,
  table,
} from "../../src/control/format.ts";
import type { ServerSnapshot } from "../../src/proxy/server_snapshot.ts";

Deno.test("table aligns columns under a rule", () => {
  assert.equal(
    table(["Id", "Name"], [["1", "a"], ["22", "bb"]]),
    ["Id  Name", "--------", "1   a", "22  bb"].join("\n"),
  );
});

Deno.test("times and durations read as a person would write them", () => {
  assert.equal(formatTime(0), "1970-01-01 00:00:00");
  assert.equal(formatDuration(12.7), "12s");
  assert.equal(formatDuration(303), "5m 3s");
  assert.equal(formatDuration(7500), "2h 5m");
  assert.equal(formatDuration(3 * 86400 + 4 * 3600), "3d 4h");
});

const STATUS: ServerSnapshot = {
  pid: 42,
  startedAt: 0,
  listeners: [{ socket: "/run/virtmux/hv1.sock", upstream: "hv1", readonly: true, clients: 1 }],
  upstreams: [
    {
      name: "hv1",
      uri: "qemu+tls://hv1/system",
      shared: true,
      opening: 0,
      idle: 1,
      busy: 0,
      inflight: 0,
    },
  ],
  pools: [{
    upstream: "hv1",
    openName: "qemu:///system",
    readonly: true,
    clients: 1,
    waitingClients: 0,
    connections: 1,
    busy: 0,
    opening: 0,
    inflight: 0,
    queued: 0,
    streams: 0,
    registrations: 2,
    opened: 3,
  }],
  clients: [{
    id: 7,
    listener: "/run/virtmux/hv1.sock",
    upstream: "hv1",
    shared: true,
    uid: 1000,
    pid: 4242,
    since: 60_000,
    inflight: 1,
    calls: 12,
  }],
};

Deno.test("status shows listeners, upstreams and pools on one screen", () => {
  const text = formatStatus(STATUS, 3_600_000);
  const lines = text.split("\n");
  assert.equal(
    lines[0],
    "virtmux pid 42, up 1h 0m (since 1970-01-01 00:00:00 UTC); 1 clients, 1 calls in flight",
  );
  assert.match(text, /^\/run\/virtmux\/hv1\.sock\s+hv1\s+read-only\s+1$/m);
  assert.match(text, /^hv1\s+shared\s+0\s+1\s+0\s+0\s+qemu\+tls:\/\/hv1\/system$/m);
  assert.match(text, /^hv1 \(ro\)\s+qemu:\/\/\/system\s+1\s+1\s+3\s+0\s+0\s+0\s+2$/m);
  assert.ok(lines.length < 25, "one screen");
});

Deno.test("clients lists id, listener, uid, pid, upstream, since, calls, in flight", () => {
  const text = formatClients(STATUS.clients);
  assert.match(
    text.split("\n")[2],
    /^7\s+\/run\/virtmux\/hv1\.sock\s+1000\s+4242\s+hv1 \(shared\)\s+1970-01-01 00:01:00\s+12\s+1$/,
  );
  const unknown = formatClients([{
    ...STATUS.clients[0],
    uid: undefined,
    pid: undefined,
    calls: undefined,
  }]);
  assert.match(unknown.split("\n")[2], /^7\s+\S+\s+-\s+-\s+.*\s+-\s+1$/);
});
