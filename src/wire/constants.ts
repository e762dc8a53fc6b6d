/**
 * Protocol constants of libvirt's RPC layer, as defined in src/rpc/virnetprotocol.x,
 * src/rpc/virkeepaliveprotocol.x, src/remote/remote_protocol.x and include/libvirt/virterror.h.
 *
 * @module
 */

/** Bytes in the length word that starts every frame. */
export const LENGTH_BYTES = 4;
/** Bytes in a frame before the payload: the length word plus the 6-word header. */
export const HEADER_BYTES = 28;
/** Byte offset of each header field within a frame (the length word is at 0). */
export const OFFSET = {
  program: 4,
  version: 8,
  procedure: 12,
  type: 16,
  serial: 20,
  status: 24,
} as const;

/** libvirt's VIR_NET_MESSAGE_MAX: the largest payload plus header, length word excluded. */
export const NET_MESSAGE_MAX = 33554432;
/** The largest whole frame libvirt accepts, length word included. */
export const MAX_FRAME_BYTES = NET_MESSAGE_MAX + LENGTH_BYTES;
/** libvirt's VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: the stream chunk size. */
export const LEGACY_PAYLOAD_MAX = 262120;
/** REMOTE_STRING_MAX (remote_protocol.x): the longest string libvirt's XDR decoder accepts. */
export const STRING_MAX = 4194304;
/** libvirt's VIR_NET_MESSAGE_NUM_FDS_MAX: the most fds one *_WITH_FDS message may pass. */
export const NUM_FDS_MAX = 32;
/** REMOTE_AUTH_SASL_DATA_MAX (remote_protocol.x): the most SASL data in one AUTH_SASL_* call. */
export const AUTH_SASL_DATA_MAX = 65536;
/**
 * The largest frame a client needs before its CONNECT_OPEN has succeeded. The procedures allowed
 * then are AUTH_LIST, AUTH_POLKIT and CONNECT_SUPPORTS_FEATURE (no or one-word arguments),
 * AUTH_SASL_START/STEP and CONNECT_OPEN. The biggest SASL call is AUTH_SASL_START: 28 bytes of
 * length and header, the mechanism name (4 + at most 20 bytes, SASL_MECHNAMEMAX), `nil` (4) and
 * `data` (4 + AUTH_SASL_DATA_MAX): 65596 bytes. CONNECT_OPEN's `name` may be a 4 MiB
 * remote_string on paper, but it is a URI: libvirt's own are a few hundred bytes, and 68 KiB
 * leaves room for a name of about 69,000 bytes. So: 64 KiB + 4 KiB.
 */
export const PRE_OPEN_MAX_FRAME_BYTES = AUTH_SASL_DATA_MAX + 4096;

/** RPC program numbers. */
export const Program = {
  REMOTE: 0x20008086,
  QEMU: 0x20008087,
  LXC: 0x00068000,
  KEEPALIVE: 0x6b656570,
  ADMIN: 0x06900690,
} as const;

/** Every program number, in a fixed order. */
export const ALL_PROGRAM_LIST: readonly number[] = Object.values(Program);

/**
 * The index of `program` in {@linkcode ALL_PROGRAM_LIST}, or -1. A switch on constants: no
 * lookup structure on the hot path.
 */
export function programIndex(program: number): number {
  switch (program) {
    case Program.REMOTE:
      return 0;
    case Program.QEMU:
      return 1;
    case Program.LXC:
      return 2;
    case Program.KEEPALIVE:
      return 3;
    case Program.ADMIN:
      return 4;
  }
  return -1;
}

/** Every program, for frames from a daemon (which only answers what a client asked for). */
export const ALL_PROGRAMS: ReadonlySet<number> = new Set(ALL_PROGRAM_LIST);

/** Programs by the names a config uses for them (`programs = ["remote", "qemu"]`). */
export const PROGRAM_NAMES: Readonly<Record<string, number>> = {
  remote: Program.REMOTE,
  qemu: Program.QEMU,
  lxc: Program.LXC,
  admin: Program.ADMIN,
};

/** The protocol version every program uses. */
export const PROGRAM_VERSION = 1;

/** Message types (virNetMessageType). */
export const MessageType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
  STREAM_HOLE: 6,
} as const;

/** Message status (virNetMessageStatus). */
export const MessageStatus = {
  OK: 0,
  ERROR: 1,
  CONTINUE: 2,
} as const;

/** Keepalive procedures (virkeepaliveprotocol.x). */
export const KeepaliveProc = {
  PING: 1,
  PONG: 2,
} as const;

/** Remote procedures the proxy looks at by number (remote_protocol.x). */
export const RemoteProc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  DOMAIN_CREATE_XML: 10,
  CONNECT_GET_HOSTNAME: 59,
  DOMAIN_CREATE_WITH_FLAGS: 196,
  CONNECT_GET_LIB_VERSION: 157,
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  AUTH_SASL_INIT: 67,
  AUTH_SASL_START: 68,
  AUTH_SASL_STEP: 69,
  AUTH_POLKIT: 70,
  CONNECT_LIST_ALL_DOMAINS: 273,
  CONNECT_REGISTER_CLOSE_CALLBACK: 360,
  CONNECT_UNREGISTER_CLOSE_CALLBACK: 361,
  CONNECT_SET_IDENTITY: 419,
} as const;

/** VIR_CONNECT_NO_ALIASES: open the name as given, without libvirt.conf aliases. */
export const CONNECT_NO_ALIASES = 2;

/** VIR_CONNECT_RO, the read-only flag of CONNECT_OPEN. */
export const CONNECT_RO = 1;

/** Whether CONNECT_OPEN `flags` ask for a read-only connection (VIR_CONNECT_RO). */
export function isReadOnlyOpen(flags: number): boolean {
  return (flags & CONNECT_RO) === CONNECT_RO;
}

/** Auth types AUTH_LIST answers with (remote_auth_type in remote_protocol.x). */
export const AuthType = {
  NONE: 0,
  SASL: 1,
  POLKIT: 2,
} as const;

/** Features CONNECT_SUPPORTS_FEATURE asks about (virDrvFeature, src/libvirt_internal.h). */
export const Feature = {
  FD_PASSING: 8,
  PROGRAM_KEEPALIVE: 10,
  REMOTE_EVENT_CALLBACK: 14,
  REMOTE_CLOSE_CALLBACK: 15,
} as const;

/** Error codes (virErrorNumber) used in the replies the proxy makes. */
export const ErrorCode = {
  INTERNAL_ERROR: 1,
  NO_SUPPORT: 3,
  INVALID_ARG: 8,
  OPERATION_DENIED: 29,
  RPC: 39,
  OPERATION_TIMEOUT: 68,
  AUTH_FAILED: 45,
  OPERATION_UNSUPPORTED: 84,
  ACCESS_DENIED: 88,
} as const;

/** Error domains (virErrorDomain) used in the replies the proxy makes. */
export const ErrorDomain = {
  RPC: 7,
  REMOTE: 13,
} as const;

/** Error level VIR_ERR_ERROR. */
export const ERROR_LEVEL_ERROR = 2;

/** Human-readable name of a program number, or its hex form. */
export function programName(program: number): string {
  for (const [name, value] of Object.entries(Program)) {
    if (value === program) return name;
  }
  return "0x" + (program >>> 0).toString(16).padStart(8, "0");
}
