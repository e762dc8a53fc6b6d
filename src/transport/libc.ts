/**
 * The few C library calls virtmux makes through FFI, for what Deno has no API for: a unix
 * listener whose accepted descriptors can be asked for the peer's credentials, and a TCP listener
 * whose accepted descriptors node:tls can serve at full speed. Loaded on first
 * use, so a process that never needs them never opens the library.
 *
 * @module
 */

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  /**
   * Blocks a thread of Deno's pool, not the event loop. Its pollfd is C memory (malloc), not a
   * JS buffer: the call can outlive the isolate that made it, and must not write into memory V8
   * has freed.
   */
  poll: { parameters: ["pointer", "u64", "i32"], result: "i32", nonblocking: true },
  malloc: { parameters: ["usize"], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const;

/** The C library's functions, typed. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/**
 * The C library, opened on first use.
 *
 * @throws {Error} when FFI is not allowed or the library cannot be loaded.
 */
export function libc(): Libc {
  library ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return library.symbols;
}

/** errno of the last failed synchronous call on this thread. */
export function errno(): number {
  const location = libc().__errno_location();
  return location === null ? 0 : new Deno.UnsafePointerView(location).getInt32();
}

/** What `error` (an errno value) means, as strerror(3) says it. */
export function errnoText(error: number): string {
  const text = libc().strerror(error);
  return text === null ? `errno ${error}` : Deno.UnsafePointerView.getCString(text);
}

/** The C constants used with these calls (Linux, x86-64 and arm64 alike). */
export const C = {
  AF_UNIX: 1,
  AF_INET: 2,
  AF_INET6: 10,
  SO_REUSEADDR: 2,
  SOCK_STREAM: 1,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_PEERCRED: 17,
  SO_PEERGROUPS: 59,
  POLLIN: 1,
  SHUT_RDWR: 2,
  EAGAIN: 11,
  EINTR: 4,
  ECONNABORTED: 103,
  RTLD_NOW: 2,
  RTLD_NODELETE: 0x1000,
} as const;

/**
 * Keeps the shared library `soname` (already loaded) mapped until the process ends, whatever
 * later closes it: Deno unloads what `Deno.dlopen` opened when the isolate that opened it goes
 * (each test module is one), but a library that loaded plugins of its own must not be unloaded
 * under them and initialised a second time.
 *
 * @returns whether the C library could pin it
 */
export function keepResident(soname: string): boolean {
  return libc().dlopen(new TextEncoder().encode(soname + "\0"), C.RTLD_NOW | C.RTLD_NODELETE) !==
    null;
}
