/**
 * The system's Cyrus SASL library (libsasl2.so.2) through FFI, used as libvirt's own client uses
 * it (src/rpc/virnetsaslcontext.c): one client session per connection, credentials supplied by
 * answering the library's interaction prompts, and the negotiated security layer's
 * sasl_encode/sasl_decode. Every mechanism the system has plugins for (SCRAM, DIGEST-MD5 with its
 * rc4/des/3des layers, GSSAPI) comes with it. Loaded on first use, so a process whose upstreams
 * never ask for SASL never opens it, and one where it is missing says so when one does.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import { keepResident } from "../libc.ts";

/** The library's soname, as Debian's libsasl2-2 ships it. */
export const LIBSASL2 = "libsasl2.so.2";

const SYMBOLS = {
  sasl_client_init: { parameters: ["pointer"], result: "i32" },
  sasl_client_new: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "pointer", "u32", "buffer"],
    result: "i32",
  },
  sasl_setprop: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  sasl_getprop: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  sasl_client_start: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  sasl_client_step: {
    parameters: ["pointer", "buffer", "u32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  sasl_encode: { parameters: ["pointer", "buffer", "u32", "buffer", "buffer"], result: "i32" },
  sasl_decode: { parameters: ["pointer", "buffer", "u32", "buffer", "buffer"], result: "i32" },
  sasl_dispose: { parameters: ["buffer"], result: "void" },
  sasl_errdetail: { parameters: ["pointer"], result: "pointer" },
  sasl_errstring: { parameters: ["i32", "pointer", "pointer"], result: "pointer" },
} as const;

/** Result codes and constants of sasl/sasl.h (2.1.28). */
export const Sasl = {
  OK: 0,
  CONTINUE: 1,
  INTERACT: 2,
  SUCCESS_DATA: 0x0004,
  SEC_NOPLAINTEXT: 0x0001,
  SEC_NOANONYMOUS: 0x0010,
  CB_LIST_END: 0,
  CB_USER: 0x4001,
  CB_AUTHNAME: 0x4002,
  CB_PASS: 0x4004,
  CB_GETREALM: 0x4008,
  PROP_SSF: 1,
  PROP_MAXOUTBUF: 2,
  PROP_SSF_EXTERNAL: 100,
  PROP_SEC_PROPS: 101,
} as const;

/** The library's functions, typed. */
export type Library = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let library: Library | undefined;

/**
 * The SASL library, opened and initialised (sasl_client_init) on first use.
 *
 * @throws {Error} naming the library when it cannot be loaded or initialised
 */
function sasl(): Library {
  library ??= loadSaslLibrary(LIBSASL2);
  return library;
}

/**
 * Opens and initialises the SASL library `soname` (exported for the test of the error a machine
 * without it gives).
 *
 * @throws {Error} naming the library and the Debian packages when it cannot be loaded
 */
export function loadSaslLibrary(soname: string): Library {
  let opened: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    opened = Deno.dlopen(soname, SYMBOLS);
  } catch (error) {
    throw new Error(
      `Cannot load the Cyrus SASL library "${soname}" that SASL authentication needs ` +
        `(Debian: libsasl2-2 and libsasl2-modules): ${errorMessage(error)}`,
      { cause: error },
    );
  }
  // libsasl2 loads its mechanism plugins (and Kerberos) itself: it stays mapped for the process's
  // life, so they are never left pointing into an unloaded copy (sasl_client_init again is a no-op).
  keepResident(soname);
  const code = opened.symbols.sasl_client_init(null);
  if (code !== Sasl.OK) {
    opened.close();
    throw new Error(`Cannot initialise "${soname}": sasl_client_init returned ${code}`);
  }
  return opened.symbols;
}

/** What one sasl_client_start or sasl_client_step produced. */
export interface SaslStepResult {
  /** Sasl.OK (done on this side), Sasl.CONTINUE, or Sasl.INTERACT (answer `prompts`, retry). */
  status: number;
  /** The data for the server; null is "no data", distinct from an empty one. */
  output: Uint8Array | null;
  /** The prompts to answer when `status` is Sasl.INTERACT: their ids (Sasl.CB_*) and defaults. */
  prompts: SaslPrompt[];
}

/** One interaction prompt of the library. */
export interface SaslPrompt {
  /** Sasl.CB_AUTHNAME, Sasl.CB_PASS, Sasl.CB_USER, Sasl.CB_GETREALM or another callback id. */
  id: number;
  /** The text the library would show a person. */
  prompt: string;
  /** The library's default answer, if any (the server's realm for Sasl.CB_GETREALM). */
  defaultResult: string | null;
}

/** Options for {@linkcode CyrusSaslClient}. */
export interface CyrusSaslClientOptions {
  /** The server's host name, as the URI gives it (`localhost` for local sockets). */
  hostname: string;
  /** `IP;PORT` of this end, for mechanisms that bind to addresses (tcp only). */
  localAddress?: string;
  /** `IP;PORT` of the server (tcp only). */
  remoteAddress?: string;
}

const POINTER_BYTES = 8;
const INTERACT_BYTES = 48; // sasl_interact_t on LP64: 5 pointers/longs and an unsigned, padded
const encoder = new TextEncoder();

function cString(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text + "\0") as Uint8Array<ArrayBuffer>;
}

/** Memory that must stay put while the library holds a pointer to it: never a V8 on-heap array. */
function pinned(bytes: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(Math.max(bytes, 128)), 0, bytes);
}

function readPointer(cell: Uint8Array): Deno.PointerValue {
  const view = new DataView(cell.buffer, cell.byteOffset, POINTER_BYTES);
  return Deno.UnsafePointer.create(view.getBigUint64(0, true));
}

function copyOut(pointer: Deno.PointerValue, length: number): Uint8Array {
  if (pointer === null) return new Uint8Array(0);
  if (length === 0) return new Uint8Array(0);
  return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, length).slice(0));
}

/**
 * One SASL client session (sasl_conn_t) for the service "libvirt", as virNetSASLSessionNewClient
 * makes it: the AUTHNAME, PASS and GETREALM callbacks are listed without functions, so the
 * library asks for them as prompts, which {@linkcode CyrusSaslClient.answer} fills.
 */
export class CyrusSaslClient {
  #lib: Library;
  #conn: Deno.PointerObject;
  /** The callbacks array: the library keeps a pointer to it for the session's life. */
  #callbacks: Uint8Array<ArrayBuffer>;
  /** The prompt array of the last INTERACT, and the answers it points at (kept until the next). */
  #prompts: Deno.PointerValue = null;
  #answers: Uint8Array[] = [];
  #promptCell = pinned(POINTER_BYTES);
  #outCell = pinned(POINTER_BYTES);
  #outLength = pinned(4);
  #mechCell = pinned(POINTER_BYTES);
  /** Input for encode and decode, reused (the library copies what it keeps). */
  #input = pinned(65536);
  #disposed = false;

  /**
   * Opens a session (sasl_client_new with SASL_SUCCESS_DATA).
   *
   * @throws {Error} when the library is missing or refuses
   */
  constructor(options: CyrusSaslClientOptions) {
    this.#lib = sasl();
    const ids = [Sasl.CB_AUTHNAME, Sasl.CB_PASS, Sasl.CB_GETREALM, Sasl.CB_LIST_END];
    this.#callbacks = pinned(ids.length * 3 * POINTER_BYTES);
    const view = new DataView(this.#callbacks.buffer);
    ids.forEach((id, i) => view.setBigUint64(i * 3 * POINTER_BYTES, BigInt(id), true));
    const connCell = pinned(POINTER_BYTES);
    const code = this.#lib.sasl_client_new(
      cString("libvirt"),
      cString(options.hostname),
      options.localAddress ? cString(options.localAddress) : null,
      options.remoteAddress ? cString(options.remoteAddress) : null,
      Deno.UnsafePointer.of(this.#callbacks),
      Sasl.SUCCESS_DATA,
      connCell,
    );
    const conn = readPointer(connCell);
    if (code !== Sasl.OK || conn === null) {
      throw new Error(`Cannot create a SASL client session: ${this.#errorString(code)}`);
    }
    this.#conn = conn;
  }

  /**
   * Sets the security properties (virNetSASLSessionSecProps): SSF bounds, the largest packet we
   * accept, and whether anonymous and plaintext mechanisms are allowed.
   */
  setSecurityProperties(
    minSsf: number,
    maxSsf: number,
    maxBufferBytes: number,
    allowAnonymous: boolean,
  ): void {
    const props = pinned(32);
    const view = new DataView(props.buffer);
    view.setUint32(0, minSsf, true);
    view.setUint32(4, maxSsf, true);
    view.setUint32(8, maxBufferBytes, true);
    view.setUint32(12, allowAnonymous ? 0 : Sasl.SEC_NOANONYMOUS | Sasl.SEC_NOPLAINTEXT, true);
    this.#check(
      this.#lib.sasl_setprop(this.#conn, Sasl.PROP_SEC_PROPS, props),
      "set security props",
    );
  }

  /** Declares the strength of a layer below SASL (TLS), in bits (SASL_SSF_EXTERNAL). */
  setExternalSsf(bits: number): void {
    const cell = pinned(4);
    new DataView(cell.buffer).setUint32(0, bits, true);
    this.#check(
      this.#lib.sasl_setprop(this.#conn, Sasl.PROP_SSF_EXTERNAL, cell),
      "set external SSF",
    );
  }

  /** Starts with the server's `mechlist` (comma or space separated); returns the step and the mechanism chosen. */
  start(mechlist: string): SaslStepResult & { mechanism: string } {
    const status = this.#lib.sasl_client_start(
      this.#conn,
      cString(mechlist),
      this.#promptCell,
      this.#outCell,
      this.#outLength,
      this.#mechCell,
    );
    const result = this.#result(status, "start SASL negotiation");
    const mech = readPointer(this.#mechCell);
    const mechanism = status === Sasl.INTERACT || mech === null
      ? ""
      : Deno.UnsafePointerView.getCString(mech);
    return { ...result, mechanism };
  }

  /** Feeds the server's data (null for none) to the next step. */
  step(input: Uint8Array | null): SaslStepResult {
    const data = input ? pinned(input.length) : null;
    if (input && data) data.set(input);
    const status = this.#lib.sasl_client_step(
      this.#conn,
      data,
      input?.length ?? 0,
      this.#promptCell,
      this.#outCell,
      this.#outLength,
    );
    return this.#result(status, "step SASL negotiation");
  }

  /** Answers the prompts of the last INTERACT, by prompt id; call start or step again after. */
  answer(values: ReadonlyMap<number, string>): void {
    if (this.#prompts === null) return;
    this.#answers = [];
    for (let at = 0;; at += INTERACT_BYTES) {
      const view = new DataView(
        Deno.UnsafePointerView.getArrayBuffer(this.#prompts, INTERACT_BYTES, at),
      );
      const id = Number(view.getBigUint64(0, true));
      if (id === Sasl.CB_LIST_END) break;
      const value = values.get(id);
      if (value === undefined) continue;
      const bytes = encoder.encode(value);
      const answer = pinned(bytes.length + 1);
      answer.set(bytes);
      this.#answers.push(answer);
      view.setBigUint64(32, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(answer))), true);
      view.setUint32(40, bytes.length, true);
    }
  }

  /** The negotiated security strength in bits (SASL_SSF): 0 means no security layer. */
  ssf(): number {
    return this.#getUnsigned(Sasl.PROP_SSF);
  }

  /** The largest input sasl_encode takes at once (SASL_MAXOUTBUF). */
  maxOutputBytes(): number {
    return this.#getUnsigned(Sasl.PROP_MAXOUTBUF);
  }

  /** Encodes `data` (at most {@linkcode maxOutputBytes}) into security-layer packets. */
  encode(data: Uint8Array): Uint8Array {
    return this.#code(this.#lib.sasl_encode, data, "encode");
  }

  /** Decodes received bytes; returns what complete packets held (empty while a packet is partial). */
  decode(data: Uint8Array): Uint8Array {
    return this.#code(this.#lib.sasl_decode, data, "decode");
  }

  /** Frees the session; safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const cell = pinned(POINTER_BYTES);
    new DataView(cell.buffer).setBigUint64(0, BigInt(Deno.UnsafePointer.value(this.#conn)), true);
    this.#lib.sasl_dispose(cell);
    this.#answers = [];
  }

  #code(
    fn: (
      conn: Deno.PointerValue,
      input: Uint8Array,
      length: number,
      out: Uint8Array,
      outLength: Uint8Array,
    ) => number,
    data: Uint8Array,
    what: string,
  ): Uint8Array {
    if (this.#disposed) throw new Error(`Cannot ${what} SASL data: the session is closed`);
    if (this.#input.length < data.length) this.#input = pinned(data.length);
    const input = this.#input;
    input.set(data);
    const code = fn(this.#conn, input, data.length, this.#outCell, this.#outLength);
    this.#check(code, `${what} SASL data`);
    const length = new DataView(this.#outLength.buffer).getUint32(0, true);
    return copyOut(readPointer(this.#outCell), length);
  }

  #result(status: number, what: string): SaslStepResult {
    if (status !== Sasl.OK && status !== Sasl.CONTINUE && status !== Sasl.INTERACT) {
      throw new Error(`Failed to ${what}: ${this.#errorString(status)}`);
    }
    if (status === Sasl.INTERACT) {
      this.#prompts = readPointer(this.#promptCell);
      return { status, output: null, prompts: this.#readPrompts() };
    }
    const out = readPointer(this.#outCell);
    const length = new DataView(this.#outLength.buffer).getUint32(0, true);
    return { status, output: out === null ? null : copyOut(out, length), prompts: [] };
  }

  #readPrompts(): SaslPrompt[] {
    const prompts: SaslPrompt[] = [];
    if (this.#prompts === null) return prompts;
    const text = (pointer: Deno.PointerValue) =>
      pointer === null ? null : Deno.UnsafePointerView.getCString(pointer);
    for (let at = 0;; at += INTERACT_BYTES) {
      const view = new Deno.UnsafePointerView(this.#prompts);
      const id = Number(view.getBigUint64(at));
      if (id === Sasl.CB_LIST_END) break;
      prompts.push({
        id,
        prompt: text(view.getPointer(at + 16)) ?? "",
        defaultResult: text(view.getPointer(at + 24)),
      });
    }
    return prompts;
  }

  #getUnsigned(property: number): number {
    const cell = pinned(POINTER_BYTES);
    this.#check(
      this.#lib.sasl_getprop(this.#conn, property, cell),
      `read SASL property ${property}`,
    );
    const pointer = readPointer(cell);
    return pointer === null ? 0 : new Deno.UnsafePointerView(pointer).getUint32();
  }

  #check(code: number, what: string): void {
    if (code !== Sasl.OK) throw new Error(`Cannot ${what}: ${this.#errorString(code)}`);
  }

  /** The library's own words, as libvirt prints them: `-13 (SASL(-13): authentication failure: ...)`. */
  #errorString(code: number): string {
    const detail = this.#conn
      ? this.#lib.sasl_errdetail(this.#conn)
      : this.#lib.sasl_errstring(code, null, null);
    return `${code} (${
      detail === null ? "unknown error" : Deno.UnsafePointerView.getCString(detail)
    })`;
  }
}
