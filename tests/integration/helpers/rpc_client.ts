/**
 * A minimal libvirt RPC client for tests that speak to a daemon with src/ code alone: one REMOTE
 * call at a time on a {@linkcode Channel}, replies matched by serial, keepalive pings answered.
 *
 * @module
 */

import { type Channel, writeAll } from "../../../src/transport/channel.ts";
import {
  ALL_PROGRAMS,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
} from "../../../src/wire/constants.ts";
import { decodeErrorReply } from "../../../src/wire/error_reply.ts";
import { FrameReader } from "../../../src/wire/frame_reader.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
} from "../../../src/wire/header.ts";
import { encodeMessage, PONG_FRAME } from "../../../src/wire/message.ts";

/** A daemon's error reply, with its virErrorNumber. */
export class RemoteCallError extends Error {
  /** virErrorNumber. */
  readonly code: number;
  /** Makes the error. */
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/** One-call-at-a-time client; `channel` may be replaced (e.g. by a SaslChannel) between calls. */
export class RpcClient {
  /** The channel calls go over. */
  channel: Channel;
  #reader = new FrameReader({ programs: ALL_PROGRAMS, direction: "fromServer" });
  #serial = 1;

  /** Wraps `channel`. */
  constructor(channel: Channel) {
    this.channel = channel;
  }

  /** Sends a REMOTE call and resolves to its whole REPLY frame; rejects with the daemon's error. */
  call = async (procedure: number, body?: Uint8Array): Promise<Uint8Array> => {
    const serial = this.#serial++;
    await writeAll(
      this.channel,
      encodeMessage({ program: Program.REMOTE, procedure, type: MessageType.CALL, serial }, body),
    );
    for (;;) {
      let frame: Uint8Array | null;
      while ((frame = this.#reader.next()) !== null) {
        if (frameProgram(frame) === Program.KEEPALIVE) {
          if (frameProcedure(frame) === KeepaliveProc.PING) {
            await writeAll(this.channel, PONG_FRAME);
          }
          continue;
        }
        if (frameType(frame) !== MessageType.REPLY || frameSerial(frame) !== serial) continue;
        if (frameStatus(frame) === MessageStatus.ERROR) {
          const error = decodeErrorReply(frame);
          throw new RemoteCallError(error.message ?? "(no message)", error.code);
        }
        return frame.slice();
      }
      const count = await this.channel.read(this.#reader.space());
      if (count === null) {
        throw new Error(`End of stream while waiting for the reply to ${procedure}`);
      }
      this.#reader.commit(count);
    }
  };
}
