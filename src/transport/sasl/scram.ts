/**
 * SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 5802, RFC 7677), client side, in TypeScript with node:crypto,
 * as cyrus-sasl's scram plugin speaks them to libvirtd: no channel binding (`n,,`), no security
 * layer. Used on channels that are already private (unix, TLS, ssh, ext), so SASL logins there
 * need no native library.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

/** The SCRAM mechanisms built in, strongest first, with their hash. */
export const SCRAM_MECHANISMS: ReadonlyMap<string, "sha256" | "sha1"> = new Map([
  ["SCRAM-SHA-256", "sha256"],
  ["SCRAM-SHA-1", "sha1"],
]);

/** Server iteration counts above this are refused (a hostile server could stall us otherwise). */
export const MAX_SCRAM_ITERATIONS = 1_000_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A SCRAM exchange that failed on the client side (a malformed or lying server). */
export class ScramError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "ScramError";
  }
}

/** Options for {@linkcode ScramClient}. */
export interface ScramClientOptions {
  /** The authentication name (auth.conf `authname`). */
  authname: string;
  /** The password. */
  password: string;
  /** The client nonce, for tests; random (24 bytes, base64) by default. */
  nonce?: string;
}

/**
 * One SCRAM login: {@linkcode ScramClient.first} gives the client-first message, then
 * {@linkcode ScramClient.final} answers the server-first message, and
 * {@linkcode ScramClient.verify} checks the server's signature in its final message.
 */
export class ScramClient {
  /** The mechanism name, e.g. `SCRAM-SHA-256`. */
  readonly mechanism: string;
  #hash: "sha256" | "sha1";
  #options: ScramClientOptions;
  #nonce: string;
  #firstBare: string;
  #serverSignature: Uint8Array | undefined;

  /** @throws {RangeError} for a mechanism not in {@linkcode SCRAM_MECHANISMS} */
  constructor(mechanism: string, options: ScramClientOptions) {
    const hash = SCRAM_MECHANISMS.get(mechanism.toUpperCase());
    if (!hash) throw new RangeError(`Cannot run SASL mechanism "${mechanism}": not built in`);
    this.mechanism = mechanism.toUpperCase();
    this.#hash = hash;
    this.#options = options;
    this.#nonce = options.nonce ?? randomBytes(24).toString("base64");
    this.#firstBare = `n=${saslName(options.authname)},r=${this.#nonce}`;
  }

  /** The client-first message: `n,,n=USER,r=NONCE`. */
  first(): Uint8Array {
    return encoder.encode(`n,,${this.#firstBare}`);
  }

  /**
   * The client-final message for the server-first message `serverFirst`.
   *
   * @throws {ScramError} when the server's message is malformed, extends no nonce of ours, or
   * asks for an unreasonable iteration count
   */
  async final(serverFirst: Uint8Array): Promise<Uint8Array> {
    const text = decoder.decode(serverFirst);
    const fields = parseFields(text);
    const nonce = fields.get("r");
    const salt = fields.get("s");
    const iterations = Number(fields.get("i"));
    if (fields.has("e")) throw new ScramError(`server refused: ${fields.get("e")}`);
    if (!nonce || !nonce.startsWith(this.#nonce) || nonce === this.#nonce) {
      throw new ScramError(`server-first message has a bad nonce: "${text}"`);
    }
    if (salt === undefined || !Number.isInteger(iterations) || iterations < 1) {
      throw new ScramError(`server-first message is malformed: "${text}"`);
    }
    if (iterations > MAX_SCRAM_ITERATIONS) {
      throw new ScramError(
        `server asks for ${iterations} iterations, more than ${MAX_SCRAM_ITERATIONS}`,
      );
    }
    const withoutProof = `c=${btoa("n,,")},r=${nonce}`;
    const authMessage = `${this.#firstBare},${text},${withoutProof}`;
    const keyBytes = this.#hash === "sha256" ? 32 : 20;
    const salted = await pbkdf2Async(
      encoder.encode(this.#options.password),
      Buffer.from(salt, "base64"),
      iterations,
      keyBytes,
      this.#hash,
    );
    const clientKey = this.#hmac(salted, "Client Key");
    const storedKey = createHash(this.#hash).update(clientKey).digest();
    const signature = this.#hmac(storedKey, authMessage);
    const proof = clientKey.map((byte, i) => byte ^ signature[i]);
    this.#serverSignature = this.#hmac(this.#hmac(salted, "Server Key"), authMessage);
    return encoder.encode(`${withoutProof},p=${Buffer.from(proof).toString("base64")}`);
  }

  /**
   * Checks the server-final message (`v=SIGNATURE`), the server's proof that it knows the
   * password too.
   *
   * @throws {ScramError} when it reports an error or its signature is wrong
   */
  verify(serverFinal: Uint8Array): void {
    const text = decoder.decode(serverFinal);
    const fields = parseFields(text);
    if (fields.has("e")) throw new ScramError(`server refused: ${fields.get("e")}`);
    const claimed = Buffer.from(fields.get("v") ?? "", "base64");
    const expected = this.#serverSignature;
    if (!expected || claimed.length !== expected.length || !timingSafeEqual(claimed, expected)) {
      throw new ScramError("the server's signature does not match: it does not know the password");
    }
  }

  #hmac(key: Uint8Array, text: string): Uint8Array {
    return createHmac(this.#hash, key).update(text).digest();
  }
}

/** RFC 5802 saslname: `=` and `,` escaped. */
function saslName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

function parseFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of text.split(",")) {
    const equals = part.indexOf("=");
    if (equals === 1) fields.set(part[0], part.slice(2));
  }
  return fields;
}
