import assert from "node:assert/strict";
import { ErrorKindIndex, typeSlot, UpstreamMeter } from "../../src/metrics/upstream_meter.ts";
import { Program, RemoteProc } from "../../src/wire/constants.ts";

Deno.test("typeSlot maps unknown types to the last slot", () => {
  assert.equal(typeSlot(0), 0);
  assert.equal(typeSlot(6), 6);
  assert.equal(typeSlot(99), 7);
});

Deno.test("replies are counted by procedure and outcome, with latency", () => {
  const meter = new UpstreamMeter("hv1");
  meter.replied(Program.REMOTE, RemoteProc.CONNECT_OPEN, false, 0.002);
  meter.replied(Program.REMOTE, RemoteProc.CONNECT_OPEN, true, -1);
  meter.replied(Program.QEMU, 1, false, 0.5);
  meter.replied(Program.REMOTE, 99999, false, 0.001);
  assert.equal(meter.calls(Program.REMOTE, RemoteProc.CONNECT_OPEN, "ok"), 1);
  assert.equal(meter.calls(Program.REMOTE, RemoteProc.CONNECT_OPEN, "error"), 1);
  const out: string[] = [];
  meter.render("calls", out);
  assert.deepEqual(out, [
    'virtmux_calls_total{upstream="hv1",program="remote",procedure="CONNECT_OPEN",outcome="ok"} 1',
    'virtmux_calls_total{upstream="hv1",program="remote",procedure="CONNECT_OPEN",outcome="error"} 1',
    'virtmux_calls_total{upstream="hv1",program="remote",procedure="other",outcome="ok"} 1',
    'virtmux_calls_total{upstream="hv1",program="qemu",procedure="DOMAIN_MONITOR_COMMAND",outcome="ok"} 1',
  ]);
  const latency: string[] = [];
  meter.render("latency", latency);
  assert.ok(
    latency.includes(
      'virtmux_call_duration_seconds_count{upstream="hv1",program="remote",procedure="CONNECT_OPEN"} 1',
    ),
    "the untimed error reply is counted but not timed",
  );
});

Deno.test("a stream-opening call answered OK counts a stream", () => {
  const meter = new UpstreamMeter("hv1");
  meter.replied(Program.REMOTE, 211, false, 0.001); // DOMAIN_SCREENSHOT
  meter.replied(Program.REMOTE, 211, true, 0.001);
  meter.replied(Program.REMOTE, RemoteProc.CONNECT_OPEN, false, 0.001);
  assert.equal(meter.streams, 1);
});

Deno.test("every error kind is rendered, zero or not", () => {
  const meter = new UpstreamMeter("hv1");
  meter.errors[ErrorKindIndex.timeout]++;
  const out: string[] = [];
  meter.render("errors", out);
  assert.equal(out.length, 6);
  assert.ok(out.includes('virtmux_errors_total{upstream="hv1",kind="timeout"} 1'));
  assert.ok(out.includes('virtmux_errors_total{upstream="hv1",kind="oversize"} 0'));
});
