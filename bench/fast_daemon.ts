/**
 * A fast stand-in for libvirtd: it does the libvirt handshake well enough for a virtmux shared pool
 * and answers every other call at once with a small canned reply, so the proxy's own cost shows
 * where a real daemon would be the bottleneck.
 *
 * - AUTH_LIST → `{1, 0}` (one auth type: none); SUPPORTS_FEATURE → `{1}`; CONNECT_OPEN → OK.
 * - keepalive PING → PONG.
 * - DOMAIN_SCREENSHOT (211, a stream to virtmux) → REPLY OK, then N STREAM frames of
 *   `chunkBytes` (status CONTINUE), then an empty CONTINUE; the client's STREAM OK gets a STREAM
 *   OK. N is the first word of the call's body (the bench's load generator puts it there).
 * - {@linkcode STATS_PROCEDURE} → `{accepts, open}`: connections accepted over the daemon's life
 *   and open now (the bench asks directly, not through a proxy).
 * - any other CALL → REPLY OK with an 8-byte body echoing the serial.
 *
 * Run: `deno run -A bench/fast_daemon.ts --socket PATH [--chunk-bytes 262144]`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  HEADER_BYTES,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
  RemoteProc,
} from "../src/wire/constants.ts";
import { readU32, writeU32 } from "../src/wire/header.ts";

/** The procedure the fast daemon answers with a data stream (REMOTE_PROC_DOMAIN_SCREENSHOT). */
export const STREAM_PROCEDURE = 211;
/** A procedure of the bench's own: the reply body is `{accepts, open}`. */
export const STATS_PROCEDURE = 0x7ffffff0;
/** Payload bytes per STREAM frame unless told otherwise: 256 KiB. */
export const DEFAULT_CHUNK_BYTES = 262144;

/** Options for {@linkcode serveFastDaemon}. */
export interface FastDaemonOptions {
  /** Unix socket to listen on (replaced if it exists). */
  socket: string;
  /**
   * Payload bytes per STREAM frame.
   *
   * @default {262144}
   */
  chunkBytes?: number;
}

interface Stats {
  accepts: number;
  open: number;
}

/** Listens on `options.socket` and serves connections until the process is killed. */
export async function serveFastDaemon(options: FastDaemonOptions): Promise<void> {
  try {
    Deno.removeSync(options.socket);
  } catch { /* not there */ }
  const listener = Deno.listen({ transport: "unix", path: options.socket });
  const stats: Stats = { accepts: 0, open: 0 };
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  for await (const conn of listener) {
    stats.accepts++;
    stats.open++;
    serveConnection(conn, stats, chunkBytes).finally(() => stats.open--);
  }
}

/** Appends a reply frame (header plus `body` words) to `out` at `at`; returns the new end. */
function putFrame(
  out: Uint8Array,
  at: number,
  program: number,
  procedure: number,
  type: number,
  serial: number,
  status: number,
  body: readonly number[],
): number {
  const length = HEADER_BYTES + 4 * body.length;
  writeU32(out, at, length);
  writeU32(out, at + 4, program);
  writeU32(out, at + 8, 1);
  writeU32(out, at + 12, procedure);
  writeU32(out, at + 16, type);
  writeU32(out, at + 20, serial);
  writeU32(out, at + 24, status);
  for (let i = 0; i < body.length; i++) writeU32(out, at + HEADER_BYTES + 4 * i, body[i]);
  return at + length;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

async function serveConnection(conn: Deno.Conn, stats: Stats, chunkBytes: number): Promise<void> {
  let buf = new Uint8Array(65536);
  let start = 0;
  let end = 0;
  const out = new Uint8Array(65536);
  let chunkFrame: Uint8Array | undefined;
  try {
    while (true) {
      if (start === end) {
        start = end = 0;
      } else if (buf.length - end < 4096) {
        const need = end - start >= 4 ? readU32(buf, start) : 0;
        const next = need > buf.length ? new Uint8Array(need * 2) : buf;
        if (next === buf) buf.copyWithin(0, start, end);
        else next.set(buf.subarray(start, end));
        buf = next;
        end -= start;
        start = 0;
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) break;
      end += n;
      let outEnd = 0;
      let stream: { serial: number; chunks: number } | undefined;
      while (end - start >= HEADER_BYTES) {
        const length = readU32(buf, start);
        if (length < HEADER_BYTES) throw new RangeError(`Bad frame length ${length}`);
        if (end - start < length) break;
        const program = readU32(buf, start + 4);
        const procedure = readU32(buf, start + 12) | 0;
        const type = readU32(buf, start + 16);
        const serial = readU32(buf, start + 20);
        const status = readU32(buf, start + 24);
        if (out.length - outEnd < 256) {
          await writeAll(conn, out.subarray(0, outEnd));
          outEnd = 0;
        }
        if (program === Program.KEEPALIVE) {
          if (procedure === KeepaliveProc.PING) {
            outEnd = putFrame(
              out,
              outEnd,
              Program.KEEPALIVE,
              KeepaliveProc.PONG,
              MessageType.MESSAGE,
              0,
              MessageStatus.OK,
              [],
            );
          }
        } else if (type === MessageType.STREAM) {
          if (status === MessageStatus.OK) {
            outEnd = putFrame(out, outEnd, program, procedure, type, serial, MessageStatus.OK, []);
          }
        } else if (type === MessageType.CALL) {
          let body: number[];
          switch (procedure) {
            case RemoteProc.AUTH_LIST:
              body = [1, 0];
              break;
            case RemoteProc.CONNECT_SUPPORTS_FEATURE:
              body = [1];
              break;
            case RemoteProc.CONNECT_OPEN:
            case RemoteProc.CONNECT_CLOSE:
              body = [];
              break;
            case STATS_PROCEDURE:
              body = [stats.accepts, stats.open];
              break;
            case STREAM_PROCEDURE:
              body = [0]; // remote_string mime: absent
              stream = {
                serial,
                chunks: length >= HEADER_BYTES + 4 ? readU32(buf, start + HEADER_BYTES) : 16,
              };
              break;
            default:
              body = [serial, 0];
          }
          outEnd = putFrame(
            out,
            outEnd,
            program,
            procedure,
            MessageType.REPLY,
            serial,
            MessageStatus.OK,
            body,
          );
        }
        start += length;
      }
      if (outEnd > 0) await writeAll(conn, out.subarray(0, outEnd));
      if (stream !== undefined) {
        chunkFrame ??= new Uint8Array(HEADER_BYTES + chunkBytes).fill(0x5a);
        putFrame(
          chunkFrame,
          0,
          Program.REMOTE,
          STREAM_PROCEDURE,
          MessageType.STREAM,
          stream.serial,
          MessageStatus.CONTINUE,
          [],
        );
        writeU32(chunkFrame, 0, chunkFrame.length);
        for (let i = 0; i < stream.chunks; i++) await writeAll(conn, chunkFrame);
        const eof = new Uint8Array(HEADER_BYTES);
        putFrame(
          eof,
          0,
          Program.REMOTE,
          STREAM_PROCEDURE,
          MessageType.STREAM,
          stream.serial,
          MessageStatus.CONTINUE,
          [],
        );
        await writeAll(conn, eof);
      }
    }
  } catch {
    // A client that goes away mid-write ends its connection, nothing more.
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { socket: { type: "string" }, "chunk-bytes": { type: "string" } },
  });
  if (values.socket === undefined) {
    console.error("Usage: fast_daemon.ts --socket PATH [--chunk-bytes N]");
    Deno.exit(2);
  }
  await serveFastDaemon({
    socket: values.socket,
    chunkBytes: values["chunk-bytes"] ? Number(values["chunk-bytes"]) : undefined,
  });
}
