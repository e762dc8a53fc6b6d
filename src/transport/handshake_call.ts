/**
 * One REMOTE call at a time on a channel nothing else uses yet: how a connection's handshake
 * (AUTH_LIST, a SASL exchange, the keepalive probe, CONNECT_OPEN) talks to a daemon before
 * frames flow. Replies are matched by serial and keepalive pings answered meanwhile.
 *
 * @module
 */

import { KeepaliveProc, MessageStatus, MessageType, Program } from "../wire/constants.ts";
import { decodeErrorReply, type RemoteError } from "../wire/error_reply.ts";
import type { FrameReader } from "../wire/frame_reader.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
} from "../wire/header.ts";
import { encodeMessage, PONG_FRAME } from "../wire/message.ts";
import { type Channel, writeAll } from "./channel.ts";

/** Options for {@linkcode handshakeCaller}. */
export interface HandshakeCallOptions {
  /** The channel now (a SASL security layer may replace it between calls). */
  channel: () => Channel;
  /** The reader of that channel; what it holds past a reply stays for whoever reads next. */
  reader: FrameReader;
  /** The serial of the next call. */
  nextSerial: () => number;
  /** The error to throw when the daemon answers with an error. */
  refused: (error: RemoteError) => Error;
  /** The error to throw when the daemon closes the connection first. */
  closed: () => Error;
}

/** A function that makes one REMOTE call and resolves to a copy of its reply frame. */
export type HandshakeCall = (procedure: number, body?: Uint8Array) => Promise<Uint8Array>;

/** Makes the caller; see {@linkcode HandshakeCallOptions}. */
export function handshakeCaller(options: HandshakeCallOptions): HandshakeCall {
  const reader = options.reader;
  return async (procedure, body) => {
    const serial = options.nextSerial();
    await writeAll(
      options.channel(),
      encodeMessage({ program: Program.REMOTE, procedure, type: MessageType.CALL, serial }, body),
    );
    for (;;) {
      let frame: Uint8Array | null;
      while ((frame = reader.next()) !== null) {
        if (frameProgram(frame) === Program.KEEPALIVE) {
          if (frameProcedure(frame) === KeepaliveProc.PING) {
            await writeAll(options.channel(), PONG_FRAME);
          }
          continue;
        }
        if (frameType(frame) !== MessageType.REPLY || frameSerial(frame) !== serial) continue;
        if (frameStatus(frame) === MessageStatus.ERROR) {
          throw options.refused(decodeErrorReply(frame));
        }
        return frame.slice();
      }
      const n = await options.channel().read(reader.space());
      if (n === null) throw options.closed();
      reader.commit(n);
    }
  };
}
