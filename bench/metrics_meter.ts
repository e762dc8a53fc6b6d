/**
 * The per-call cost of metering, alone: a CALL and its REPLY through a
 * {@linkcode SessionMeter} (what every forwarded call costs with metrics on), against the same
 * loop without it. Prints nanoseconds per call, median of 7 runs.
 *
 * `deno run -A bench/metrics_meter.ts [--calls 2000000]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { SessionMeter } from "../src/metrics/session_meter.ts";
import { UpstreamMeter } from "../src/metrics/upstream_meter.ts";
import { MessageType, RemoteProc } from "../src/wire/constants.ts";
import { writeHeader } from "../src/wire/header.ts";

function frame(type: number): Uint8Array {
  const bytes = new Uint8Array(32);
  writeHeader(bytes, {
    length: 32,
    program: 0x20008086,
    version: 1,
    procedure: RemoteProc.CONNECT_GET_LIB_VERSION,
    type,
    serial: 0,
    status: 0,
  });
  return bytes;
}

function run(calls: number, metered: boolean): number {
  const call = frame(MessageType.CALL);
  const reply = frame(MessageType.REPLY);
  const view = new DataView(call.buffer);
  const replyView = new DataView(reply.buffer);
  const meter = new SessionMeter(new UpstreamMeter("bench"), () => {});
  let sink = 0;
  const start = performance.now();
  for (let serial = 0; serial < calls; serial++) {
    view.setUint32(20, serial);
    replyView.setUint32(20, serial);
    if (metered) {
      meter.fromClient(call);
      meter.toClient(reply);
    } else {
      sink += call[23] + reply[23];
    }
  }
  const ns = (performance.now() - start) * 1e6 / calls;
  return sink === -1 ? 0 : ns;
}

const { values } = parseArgs({
  args: Deno.args,
  options: { calls: { type: "string", default: "2000000" } },
});
const calls = Number(values.calls);
const samples = { off: [] as number[], on: [] as number[] };
for (let i = 0; i < 7; i++) {
  samples.off.push(run(calls, false));
  samples.on.push(run(calls, true));
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
console.log(
  `per call (CALL + REPLY): without meter ${median(samples.off).toFixed(1)} ns, ` +
    `with meter ${median(samples.on).toFixed(1)} ns`,
);
