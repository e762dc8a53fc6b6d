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
  /**
   * What the transport has to say about a failure, e.g. the tail of an ssh child's stderr and its
   * exit status ("Permission denied (publickey)."); "" or absent when nothing.
   */
  diagnostics?(): string;
}

/** `message`, followed by the channel's diagnostics when it has any. */
export function withDiagnostics(message: string, channel: Channel | undefined): string {
  const extra = channel?.diagnostics?.().trim();
  return extra ? `${message}: ${extra}` : message;
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
