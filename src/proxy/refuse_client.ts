/**
 * Turning a client away with a message it can print: the proxy is full, the client's credentials
 * are not allowed, or its upstream cannot be reached.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { Logger } from "../log/logger.ts";
import { type Channel, writeAll } from "../transport/channel.ts";
import { ALL_PROGRAMS, ErrorCode, ErrorDomain, MessageType } from "../wire/constants.ts";
import { encodeErrorReply } from "../wire/error_reply.ts";
import { FrameReader } from "../wire/frame_reader.ts";
import { frameType, readHeader } from "../wire/header.ts";

/** Options for {@linkcode refuseClient}. */
export interface RefuseClientOptions {
  /** Where to log. */
  logger: Logger;
  /**
   * The error code in the replies.
   *
   * @default {39} (VIR_ERR_RPC)
   */
  code?: number;
  /**
   * How long to wait for the client's first call, in ms.
   *
   * @default {5000}
   */
  waitMs?: number;
}

/**
 * Answers every call in the client's first read with an error saying `message`, then closes it:
 * how a client learns that its upstream is unreachable or the proxy is full, instead of hanging.
 */
export async function refuseClient(
  client: Channel,
  message: string,
  options: RefuseClientOptions,
): Promise<void> {
  const reader = new FrameReader({ initialBytes: 4096, programs: ALL_PROGRAMS });
  const timer = setTimeout(() => closeQuietly(client), options.waitMs ?? 5000);
  try {
    const n = await client.read(reader.space());
    if (n !== null) {
      reader.commit(n);
      let frame: Uint8Array | null;
      while ((frame = reader.next()) !== null) {
        const type = frameType(frame);
        if (type !== MessageType.CALL && type !== MessageType.CALL_WITH_FDS) continue;
        const reply = encodeErrorReply(readHeader(frame), message, {
          code: options.code ?? ErrorCode.RPC,
          domain: ErrorDomain.REMOTE,
        });
        await writeAll(client, reply);
      }
    }
  } catch (error) {
    options.logger.debug("Refused client did not take the error", { error: errorMessage(error) });
  } finally {
    clearTimeout(timer);
    closeQuietly(client);
  }
}

/** Closes `channel`, ignoring that it may be closed already. */
export function closeQuietly(channel: Channel | undefined): void {
  try {
    channel?.close();
  } catch { /* closed */ }
}
