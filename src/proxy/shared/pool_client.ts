/**
 * What a shared pool needs of a client session: a way to hand it frames and to tell it that
 * state it depended on is gone.
 *
 * @module
 */

/** A client of a shared pool, as the pool sees it. */
export interface PoolClient {
  /** Id for logs. */
  readonly id: number | string;
  /**
   * Hands a frame to the client. The frame is valid only until the returned promise resolves, or
   * until return when there is none (the client copied it).
   */
  deliver(frame: Uint8Array): Promise<void> | undefined;
  /** The pool lost state the client depended on: close the client with `reason`. */
  lost(reason: string): void;
}
