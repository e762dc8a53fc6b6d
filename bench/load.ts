/**
 * The bench's load generator: raw libvirt wire-protocol clients on unix sockets. Every connection
 * first does AUTH_LIST and CONNECT_OPEN, so it works through shared pools as well as directly.
 *
 * Modes (`deno run -A bench/load.ts MODE --socket PATH ...`), each printing one JSON line:
 * - `calls --conns N --calls M`: N connections, each M sequential small calls
 *   (CONNECT_GET_LIB_VERSION) → calls/s, p50/p99 latency in µs.
 * - `stream --chunks K`: one connection, one DOMAIN_SCREENSHOT stream → MB/s.
 * - `seq --count N`: N clients one after another (open, one call, CONNECT_CLOSE, close).
 * - `idle --count N`: N clients that open and then stay idle until stdin closes.
 *
 * With `--sync`, `calls` and `stream` print `{"phase":"ready"}` once connected and opened, wait for
 * a line on stdin before the timed part, and after printing the result wait for stdin to close
 * before closing their connections: the parent reads the proxy's CPU time at those two points.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MessageType, RemoteProc } from "../src/wire/constants.ts";
import { readU32, writeU32 } from "../src/wire/header.ts";
import { errorMessage } from "../src/log/error_message.ts";
import { STREAM_PROCEDURE } from "./fast_daemon.ts";
import { DEFAULT_OPEN_NAME, encodeCall, SMALL_CALL_PROCEDURE, WireClient } from "./wire_client.ts";

/** The result of a `calls` run. */
export interface CallsResult {
  /** Calls timed. */
  calls: number;
  /** Seconds from the start signal until the last reply. */
  seconds: number;
  /** Calls per second over all connections. */
  callsPerSec: number;
  /** Median round trip in µs. */
  p50Us: number;
  /** 99th percentile round trip in µs. */
  p99Us: number;
}

/** The result of a `stream` run. */
export interface StreamResult {
  /** Payload bytes received. */
  bytes: number;
  /** Seconds from the call until the stream's end. */
  seconds: number;
  /** Payload MB (10^6 bytes) per second. */
  mbPerSec: number;
}

/** The `q` quantile (0..1) of sorted `values`. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index];
}

async function openAll(socket: string, name: string, count: number, parallel: number) {
  const clients: WireClient[] = [];
  let failed = 0;
  let next = 0;
  let firstError = "";
  async function worker() {
    while (next < count) {
      next++;
      try {
        clients.push(await WireClient.open(socket, name));
      } catch (error) {
        failed++;
        firstError ||= String(error);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return { clients, failed, firstError };
}

async function runCalls(
  clients: WireClient[],
  calls: number,
  warmup: number,
  sync: () => Promise<void>,
): Promise<CallsResult> {
  const latencies = new Float64Array(clients.length * calls);
  const loop = async (client: WireClient, index: number, count: number, record: boolean) => {
    const frame = encodeCall(SMALL_CALL_PROCEDURE, 0);
    for (let i = 0; i < count; i++) {
      const serial = client.nextSerial();
      writeU32(frame, 20, serial);
      const began = performance.now();
      await client.write(frame);
      await client.reply(serial);
      if (record) latencies[index * calls + i] = (performance.now() - began) * 1000;
    }
  };
  await Promise.all(clients.map((c, i) => loop(c, i, warmup, false)));
  await sync();
  const began = performance.now();
  await Promise.all(clients.map((c, i) => loop(c, i, calls, true)));
  const seconds = (performance.now() - began) / 1000;
  latencies.sort();
  return {
    calls: latencies.length,
    seconds,
    callsPerSec: latencies.length / seconds,
    p50Us: quantile(latencies, 0.5),
    p99Us: quantile(latencies, 0.99),
  };
}

async function runStream(
  client: WireClient,
  chunks: number,
  sync: () => Promise<void>,
): Promise<StreamResult> {
  const body = new Uint8Array(4);
  writeU32(body, 0, chunks);
  await sync();
  const began = performance.now();
  const serial = client.nextSerial();
  await client.write(encodeCall(STREAM_PROCEDURE, serial, body));
  const bytes = await client.drainStream();
  const seconds = (performance.now() - began) / 1000;
  // Finish the stream as libvirt does: client OK, server OK.
  const finish = encodeCall(STREAM_PROCEDURE, serial);
  writeU32(finish, 16, MessageType.STREAM);
  await client.write(finish);
  while (true) {
    const frame = await client.frame();
    if (readU32(frame, 16) === MessageType.STREAM && readU32(frame, 20) === serial) break;
  }
  return { bytes, seconds, mbPerSec: bytes / seconds / 1e6 };
}

const stdinLines = (() => {
  const decoder = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(256);
  return {
    /** Resolves with the next line, or null at end of input. */
    async next(): Promise<string | null> {
      while (!text.includes("\n")) {
        const n = await Deno.stdin.read(buf);
        if (n === null) return null;
        text += decoder.decode(buf.subarray(0, n));
      }
      const at = text.indexOf("\n");
      const line = text.slice(0, at);
      text = text.slice(at + 1);
      return line;
    },
  };
})();

function emit(value: unknown): void {
  console.log(JSON.stringify(value));
}

async function untilStdinEnds(): Promise<void> {
  while ((await stdinLines.next()) !== null) { /* wait */ }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      socket: { type: "string" },
      name: { type: "string", default: DEFAULT_OPEN_NAME },
      conns: { type: "string", default: "1" },
      calls: { type: "string", default: "1000" },
      warmup: { type: "string", default: "50" },
      chunks: { type: "string", default: "64" },
      count: { type: "string", default: "1000" },
      parallel: { type: "string", default: "64" },
      sync: { type: "boolean", default: false },
    },
  });
  const socket = values.socket;
  if (socket === undefined) throw new Error("Cannot run: --socket is required");
  const name = values.name!;
  const sync = async () => {
    if (!values.sync) return;
    emit({ phase: "ready" });
    await stdinLines.next();
  };
  switch (positionals[0]) {
    case "calls": {
      const { clients, failed, firstError } = await openAll(
        socket,
        name,
        Number(values.conns),
        Number(values.parallel),
      );
      if (failed > 0) throw new Error(`Cannot open ${failed} connections: ${firstError}`);
      emit(await runCalls(clients, Number(values.calls), Number(values.warmup), sync));
      if (values.sync) await untilStdinEnds();
      for (const client of clients) client.close();
      break;
    }
    case "stream": {
      const client = await WireClient.open(socket, name);
      emit(await runStream(client, Number(values.chunks), sync));
      if (values.sync) await untilStdinEnds();
      client.close();
      break;
    }
    case "seq": {
      const count = Number(values.count);
      const began = performance.now();
      for (let i = 0; i < count; i++) {
        const client = await WireClient.open(socket, name);
        await client.call(SMALL_CALL_PROCEDURE);
        await client.call(RemoteProc.CONNECT_CLOSE);
        client.close();
      }
      emit({ count, seconds: (performance.now() - began) / 1000 });
      break;
    }
    case "idle": {
      const { clients, failed, firstError } = await openAll(
        socket,
        name,
        Number(values.count),
        Number(values.parallel),
      );
      emit({ phase: "ready", opened: clients.length, failed, firstError });
      await untilStdinEnds();
      for (const client of clients) client.close();
      break;
    }
    default:
      throw new Error(`Unknown mode "${positionals[0]}": use calls, stream, seq or idle`);
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    emit({ error: errorMessage(error) });
    Deno.exit(1);
  }
}
