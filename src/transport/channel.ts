/**
 * The byte channel every transport returns: what the proxy reads frames from and writes them to,
 * whatever carries them (a unix or tcp socket, TLS, an ssh or ext child's pipes).
 *
 * @module
 */

/**
 * A bidirectional byte stream. `Deno.Conn` satisfies it; child-process transports wrap their
 * pipes to match.
 */
export interface Channel {
  /** Reads into `buffer`; resolves to the count read, or null at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `data`; resolves to the count written. */
  write(data: Uint8Array): Promise<number>;
  /** Signals end of stream to the peer, keeping the read side open. */
  closeWrite(): Promise<void>;
  /** Closes both directions and releases the resources (child processes included). */
  close(): void;
}

/** Writes all of `data` to `channel`. */
export async function writeAll(channel: Channel, data: Uint8Array): Promise<void> {
  let written = await channel.write(data);
  while (written < data.length) written += await channel.write(data.subarray(written));
}

/** A connection failure that names the upstream and the cause, fit to show a client. */
export class DialError extends Error {
  /** Makes the error; `message` is the whole sentence a user sees. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DialError";
  }
}
