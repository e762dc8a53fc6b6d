/**
 * The audit decoder's speed on one core: messages/s of `decodeFrame` over the frames captured from
 * a real libvirtd (tests/audit/fixtures/libvirtd.frames, made by tests/audit/capture_frames.ts),
 * decoded in capture order, round after round. Each sample is a fresh process pinned to CPU 0
 * with virtmux's own V8 flags, warmed up for a second, then timed for a few seconds. A second
 * column adds `JSON.stringify` of each record, what an audit log line costs before hashing.
 *
 * Run alone: `deno run -A bench/figures/audit_decode.ts [--rounds N]` prints the figure as JSON;
 * `deno task bench -- --only decode` puts it in BENCHMARKS.md.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { decodeFrame } from "../../src/audit/decoder.ts";
import { readLibvirtdCapture } from "../../tests/audit/_fixture.ts";
import { V8_FLAGS } from "../../tools/v8_flags.ts";
import { shellWords } from "../references.ts";
import { evaluate, type Figure, type Metric } from "../report.ts";
import { interleave, progress } from "./_interleave.ts";

/**
 * The columns: every frame decoded; every frame decoded and its record serialised; only the frames
 * with a body to decode (no handshake-sized 28-byte frames, no stream data), the harder mix.
 */
const MODES = ["decode", "decode_json", "bodies_only"] as const;
type Mode = typeof MODES[number];

/** Options for {@linkcode measureAuditDecode}. */
export interface AuditDecodeOptions {
  /** Samples per column. */
  rounds: number;
  /** Timed seconds per sample. */
  seconds?: number;
}

const PIN = ["taskset", "-c", "0"];
const SELF = fileURLToPath(import.meta.url);

function sampleCommand(mode: Mode, seconds: number): string[] {
  return [
    ...PIN,
    Deno.execPath(),
    "run",
    V8_FLAGS,
    "--allow-read",
    SELF,
    "--sample",
    mode,
    `${seconds}`,
  ];
}

/** Whether the decoder has a body to decode in `frame` (not stream data, not empty). */
function hasBody(frame: Uint8Array): boolean {
  return frame.length > 28 && new DataView(frame.buffer, frame.byteOffset).getInt32(16) !== 3;
}

/** One sample, in this process: messages/s over the capture for `seconds` after a warm-up. */
async function sample(mode: Mode, seconds: number): Promise<{ perSec: number; bytes: number }> {
  const frames = (await readLibvirtdCapture()).map((item) => item.frame)
    .filter((frame) => mode !== "bodies_only" || hasBody(frame));
  const json = mode === "decode_json";
  let sink = 0;
  const pass = () => {
    for (const frame of frames) {
      const record = decodeFrame(frame);
      sink += json ? JSON.stringify(record).length : record.bytes;
    }
  };
  const warmUntil = performance.now() + 1000;
  while (performance.now() < warmUntil) pass();
  let passes = 0;
  const began = performance.now();
  const end = began + seconds * 1000;
  while (performance.now() < end) {
    pass();
    passes++;
  }
  const elapsed = (performance.now() - began) / 1000;
  if (sink < 0) console.log(sink); // keep the work observable
  const bytes = frames.reduce((sum, frame) => sum + frame.length, 0);
  return { perSec: (passes * frames.length) / elapsed, bytes: (passes * bytes) / elapsed };
}

/** Samples both columns in pinned child processes, interleaved. */
export async function measureAuditDecode(options: AuditDecodeOptions): Promise<Figure> {
  const seconds = options.seconds ?? 3;
  const rate: Metric = { id: "messagesPerSec", label: "messages/s", better: "higher", samples: {} };
  const throughput: Metric = {
    id: "mibPerSec",
    label: "MiB/s of frames",
    better: "higher",
    samples: {},
    digits: 1,
  };
  const frames = await readLibvirtdCapture();
  const totalBytes = frames.reduce((sum, item) => sum + item.frame.length, 0);
  progress(`audit decode: ${frames.length} captured frames, ${options.rounds} rounds`);
  await interleave(options.rounds, MODES, async (mode) => {
    const command = sampleCommand(mode, seconds);
    const output = await new Deno.Command(command[0], { args: command.slice(1), stdout: "piped" })
      .output();
    if (!output.success) {
      throw new Error(`Cannot sample audit decode (${mode}): exit ${output.code}`);
    }
    const result = JSON.parse(new TextDecoder().decode(output.stdout));
    (rate.samples[mode] ??= []).push(result.perSec);
    (throughput.samples[mode] ??= []).push(result.bytes / 2 ** 20);
  });
  return {
    id: "audit_decode",
    title: "Audit decoder, messages/s on one core",
    description: `decodeFrame over the ${frames.length} frames (${totalBytes} bytes, ` +
      `mean ${Math.round(totalBytes / frames.length)} bytes) captured from a real libvirtd 9.0 ` +
      "by tests/audit/capture_frames.ts (virsh open/list/lookup/dumpxml/define/lifecycle with an " +
      "event listener, an error reply, a screenshot stream, domstats, QEMU and LXC calls, " +
      "virt-admin), in capture order; each sample a fresh process pinned to CPU 0, warmed up 1 s, " +
      `timed ${seconds} s. decode_json also serialises each record with JSON.stringify; ` +
      `bodies_only decodes only the ${frames.filter((item) => hasBody(item.frame)).length} ` +
      "frames with a body (no 28-byte frames, no stream data).",
    columns: [...MODES],
    metrics: [rate, throughput],
    goals: [{
      text: "decoder ≥ 200,000 messages/s on one core",
      metric: "messagesPerSec",
      subject: "decode",
      op: ">=",
      threshold: 200000,
    }],
    commands: MODES.map((mode) => shellWords(sampleCommand(mode, seconds))),
    notes: [
      "Stream data messages are counted, not decoded (the decoder records their size only).",
    ],
  };
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--sample");
  if (at >= 0) {
    const result = await sample(Deno.args[at + 1] as Mode, Number(Deno.args[at + 2]));
    console.log(JSON.stringify(result));
  } else {
    const rounds = Deno.args[0] === "--rounds" ? Number(Deno.args[1]) : 5;
    console.log(JSON.stringify(evaluate(await measureAuditDecode({ rounds })), null, 2));
  }
}
