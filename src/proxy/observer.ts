/**
 * The one place where what flows through a session can be watched: the audit log and the
 * metrics hook in here, for dedicated and shared sessions alike. With no observer configured a
 * session does no work for it beyond one `undefined` check per frame.
 *
 * An observer sees frames as the client sees them (the client's own serials, before the shared
 * pool rewrites them and after it rewrites them back), once each, including the replies the
 * proxy makes itself (error replies, local answers).
 *
 * @module
 */

/** Who a client is, as far as the proxy can tell. */
export interface ClientIdentity {
  /** The listener it came through: a socket path, `tls:ADDR:PORT`, `tcp:...` or `stdio`. */
  listener: string;
  /** The proxy's id for the client (unique within a process). */
  client: number | string;
  /** Peer credentials of a unix client (SO_PEERCRED), when read. */
  uid?: number;
  /** Primary group of a unix client. */
  gid?: number;
  /** Process id of a unix client. */
  pid?: number;
  /** The peer's address, for network listeners and ssh (SSH_CONNECTION). */
  address?: string;
  /** The client certificate's distinguished name, for TLS listeners. */
  certificateDn?: string;
}

/** The upstream a session talks to. */
export interface ObservedUpstream {
  /** Its name in the config. */
  name: string;
  /** Its URI. */
  uri: string;
  /** Whether it is a shared pool. */
  shared: boolean;
}

/**
 * Watches one session. Frames are views into reused buffers: valid only during the call, and
 * never to be changed. A returned promise makes the session wait before it reads on (the audit
 * log's `block` backpressure); return undefined to let it go on at once.
 */
export interface SessionObserver {
  /** A frame from the client that passed the frame checks (calls, stream data, keepalive). */
  fromClient(frame: Uint8Array): Promise<void> | undefined;
  /** A frame on its way to the client: forwarded, or made by the proxy. */
  toClient(frame: Uint8Array): Promise<void> | undefined;
  /** The session ended; `reason` is its close reason. */
  closed(reason: string): void;
}

/** Makes an observer per session; given to the server and to stdio mode. */
export interface SessionObservers {
  /** An observer for a new session, or undefined to watch nothing of it. */
  observe(identity: ClientIdentity, upstream: ObservedUpstream): SessionObserver | undefined;
}
