/**
 * libvirt's SASL login as its remote driver performs it (remoteAuthSASL, src/remote/
 * remote_driver.c): AUTH_SASL_INIT for the server's mechanisms, then AUTH_SASL_START and
 * AUTH_SASL_STEP until both sides are complete, with credentials from auth.conf. It runs over a
 * "call one REMOTE procedure" callback, so whoever owns the connection's handshake plugs it in;
 * afterwards, a connection with a security layer (DIGEST-MD5 or GSSAPI on plain tcp) carries
 * every byte through {@linkcode SaslChannel}.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { LibvirtUri } from "../../uri/uri.ts";
import { ErrorCode, ErrorDomain, HEADER_BYTES, RemoteProc } from "../../wire/constants.ts";
import { type AuthConfig, type CredentialName, findAuthFile, readAuthConfig } from "./auth_conf.ts";
import { CyrusSaslClient, Sasl, type SaslPrompt, type SaslStepResult } from "./cyrus.ts";
import { SCRAM_MECHANISMS, ScramClient, ScramError } from "./scram.ts";

/** REMOTE_AUTH_SASL_DATA_MAX (remote_protocol.x). */
export const SASL_DATA_MAX = 65536;

/** The largest security-layer packet we accept, as libvirt's client sets it (1 << 16). */
export const SASL_MAX_BUFFER_BYTES = 65536;

/** libvirt refuses a security layer weaker than this on an insecure channel (DES level). */
export const MIN_INSECURE_SSF = 56;

/**
 * Sends one REMOTE call with `body` and resolves to the whole REPLY frame; rejects with the
 * daemon's error (its message and virErrorNumber) when the reply is an error.
 */
export type RemoteCall = (procedure: number, body?: Uint8Array) => Promise<Uint8Array>;

/** Options for {@linkcode authenticateSasl}. */
export interface SaslAuthOptions {
  /** The upstream's name, for messages. */
  name: string;
  /** The upstream URI: its host picks the auth.conf group, `authfile=` and `auth=sasl.MECH` apply. */
  uri: LibvirtUri;
  /**
   * The channel below is already private (unix socket, TLS, ssh, ext): any mechanism will do and
   * no security layer is needed. On plain tcp this is false, and an SSF of at least 56 is
   * required, as libvirt's client requires it.
   */
  channelIsSecure: boolean;
  /** The TLS session's key size in bits, declared as external SSF (TLS upstreams). */
  externalSsf?: number;
  /** `IP;PORT` of each end (tcp), for mechanisms that use addresses. */
  localAddress?: string;
  /** `IP;PORT` of the daemon (tcp). */
  remoteAddress?: string;
  /** Where to find credentials; by default as libvirt's client finds auth.conf. */
  credentials?: CredentialSource;
}

/** Finds one credential for a host; undefined when it has none. */
export interface CredentialSource {
  /** The value of `name` for `hostname`, or undefined. */
  lookup(hostname: string, name: CredentialName): Promise<string | undefined>;
  /** Where it looked, for the error when a credential is missing. */
  describe(): string;
}

/** The outcome of a SASL login. */
export interface SaslResult {
  /** The mechanism the client chose. */
  mechanism: string;
  /** The security layer, when the mechanism negotiated one (SSF > 0); null otherwise. */
  layer: CyrusSaslClient | null;
  /** The negotiated strength in bits (0 without a layer). */
  ssf: number;
}

/** Options for {@linkcode SaslError}: the libvirt error to give clients. */
export interface SaslErrorOptions extends ErrorOptions {
  /**
   * virErrorNumber.
   *
   * @default {45} (VIR_ERR_AUTH_FAILED)
   */
  code?: number;
  /**
   * virErrorDomain.
   *
   * @default {7} (VIR_FROM_RPC)
   */
  domain?: number;
}

/**
 * A SASL login that failed, here or at the daemon; `code` and `domain` are what a libvirt client
 * should see (VIR_ERR_AUTH_FAILED unless the daemon said otherwise).
 */
export class SaslError extends Error {
  /** virErrorNumber for the client. */
  readonly code: number;
  /** virErrorDomain for the client. */
  readonly domain: number;
  /** Makes the error; `message` is the sentence a user sees. */
  constructor(message: string, options: SaslErrorOptions = {}) {
    super(message, options);
    this.name = "SaslError";
    this.code = options.code ?? ErrorCode.AUTH_FAILED;
    this.domain = options.domain ?? ErrorDomain.RPC;
  }
}

/** Credentials from the auth.conf libvirt's client would read for `uri`, read afresh each time. */
export function authConfCredentials(uri: LibvirtUri): CredentialSource {
  const choice = findAuthFile(uri);
  let config: Promise<AuthConfig> | undefined;
  return {
    async lookup(hostname, name) {
      if (choice.path === null) return undefined;
      config ??= readAuthConfig(choice.path);
      return (await config).lookup("libvirt", hostname, name);
    },
    describe() {
      return choice.path === null
        ? `no auth.conf found (tried ${choice.tried.join(", ")})`
        : `auth.conf "${choice.path}" (tried ${choice.tried.join(", ")})`;
    },
  };
}

/** The auth.conf key a prompt asks for (remoteAuthFillFromConfig). */
const CREDENTIAL_OF_PROMPT: ReadonlyMap<number, CredentialName> = new Map([
  [Sasl.CB_USER, "username"],
  [Sasl.CB_AUTHNAME, "authname"],
  [Sasl.CB_PASS, "password"],
  [Sasl.CB_GETREALM, "realm"],
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Logs in to the daemon with SASL over `call`, as libvirt's client does, and returns the
 * mechanism and the security layer, if one was negotiated (the caller then wraps its channel in
 * a {@linkcode SaslChannel}).
 *
 * @throws {SaslError} for failures on this side (no usable mechanism, a missing credential, an
 * SSF too weak for plain tcp); the daemon's own refusal (`authentication failed: ...`, code 45)
 * is rethrown as `call` rejected with it
 */
export async function authenticateSasl(
  call: RemoteCall,
  options: SaslAuthOptions,
): Promise<SaslResult> {
  const hostname = options.uri.host || "localhost";
  const what = `Cannot authenticate to upstream "${options.name}" (${options.uri.text}) with SASL`;
  const credentials = options.credentials ?? authConfCredentials(options.uri);
  const lookup = async (prompt: SaslPrompt | CredentialName) => {
    const name = typeof prompt === "string" ? prompt : CREDENTIAL_OF_PROMPT.get(prompt.id);
    let value: string | undefined;
    try {
      value = name === undefined ? undefined : await credentials.lookup(hostname, name);
    } catch (error) {
      throw new SaslError(`${what}: ${errorMessage(error)}`, { cause: error });
    }
    if (value !== undefined || typeof prompt === "string") return value;
    // The realm and the authorization id have sensible defaults: the server's realm, and none
    // (the authentication name is used), which is what libvirt's interactive clients end up with.
    if (prompt.id === Sasl.CB_GETREALM || prompt.id === Sasl.CB_USER) {
      return prompt.defaultResult ?? "";
    }
    return undefined;
  };
  const require = async (prompt: SaslPrompt | CredentialName): Promise<string> => {
    const value = await lookup(prompt);
    if (value !== undefined) return value;
    const name = typeof prompt === "string"
      ? prompt
      : CREDENTIAL_OF_PROMPT.get(prompt.id) ?? `prompt 0x${prompt.id.toString(16)}`;
    throw new SaslError(
      `${what}: no "${name}" credential for host "${hostname}" (group ` +
        `[auth-libvirt-${hostname}] or [auth-libvirt-default]): ${credentials.describe()}`,
    );
  };

  const init = await call(RemoteProc.AUTH_SASL_INIT);
  let mechlist = decodeString(init, HEADER_BYTES);
  const offered = mechlist.toUpperCase().split(/[ ,]+/);
  const wanted = wantedMechanism(options.uri);
  if (wanted) {
    if (!offered.includes(wanted.toUpperCase())) {
      throw new SaslError(
        `${what}: SASL mechanism ${wanted} not supported by server (it offers ${mechlist})`,
      );
    }
    mechlist = wanted.toUpperCase();
  }
  // On a private channel SCRAM is what Cyrus picks too; done here, it needs no native library.
  const scram = options.channelIsSecure
    ? [...SCRAM_MECHANISMS.keys()].find((name) =>
      mechlist.toUpperCase().split(/[ ,]+/).includes(name)
    )
    : undefined;
  if (scram) {
    const client = new ScramClient(scram, {
      authname: await require("authname"),
      password: await require("password"),
    });
    await scramLogin(call, client, what);
    return { mechanism: scram, layer: null, ssf: 0 };
  }
  return await cyrusLogin(call, mechlist, options, hostname, what, async (prompts) => {
    const answers = new Map<number, string>();
    for (const prompt of prompts) answers.set(prompt.id, await require(prompt));
    return answers;
  });
}

/** The SCRAM exchange: START with client-first, STEP with client-final, then verify. */
async function scramLogin(call: RemoteCall, client: ScramClient, what: string): Promise<void> {
  try {
    const first = decodeStepReply(
      await call(
        RemoteProc.AUTH_SASL_START,
        concat(encodeString(client.mechanism), encodeData(client.first())),
      ),
    );
    if (first.complete || first.data === null) {
      throw new ScramError("the server sent no server-first message");
    }
    let reply = decodeStepReply(
      await call(RemoteProc.AUTH_SASL_STEP, encodeData(await client.final(first.data))),
    );
    client.verify(reply.data ?? new Uint8Array(0));
    if (!reply.complete) {
      reply = decodeStepReply(await call(RemoteProc.AUTH_SASL_STEP, encodeData(null)));
      if (!reply.complete) {
        throw new ScramError("the server did not complete after its final message");
      }
    }
  } catch (error) {
    if (error instanceof ScramError) {
      throw new SaslError(`${what}: authentication failed: ${client.mechanism}: ${error.message}`);
    }
    throw error;
  }
}

/** The exchange through Cyrus SASL, step for step as remoteAuthSASL runs it. */
async function cyrusLogin(
  call: RemoteCall,
  mechlist: string,
  options: SaslAuthOptions,
  hostname: string,
  what: string,
  answer: (prompts: SaslPrompt[]) => Promise<Map<number, string>>,
): Promise<SaslResult> {
  let client: CyrusSaslClient;
  try {
    client = new CyrusSaslClient({
      hostname,
      localAddress: options.localAddress,
      remoteAddress: options.remoteAddress,
    });
  } catch (error) {
    throw new SaslError(`${what}: ${errorMessage(error)}`, { cause: error });
  }
  try {
    if (options.externalSsf) client.setExternalSsf(options.externalSsf);
    const secure = options.channelIsSecure;
    client.setSecurityProperties(
      secure ? 0 : MIN_INSECURE_SSF,
      secure ? 0 : 100000,
      SASL_MAX_BUFFER_BYTES,
      secure,
    );
    let started = client.start(mechlist);
    while (started.status === Sasl.INTERACT) {
      client.answer(await answer(started.prompts));
      started = client.start(mechlist);
    }
    const mechanism = started.mechanism;
    let reply = await call(
      RemoteProc.AUTH_SASL_START,
      concat(encodeString(mechanism), encodeData(started.output)),
    );
    let { complete, data } = decodeStepReply(reply);
    let clientDone = started.status === Sasl.OK;
    // As libvirt: unless both sides finished at start, the client always steps at least once,
    // so that it verifies the server (mutual authentication).
    if (!(complete && clientDone)) {
      for (;;) {
        let stepped: SaslStepResult = client.step(data);
        while (stepped.status === Sasl.INTERACT) {
          client.answer(await answer(stepped.prompts));
          stepped = client.step(data);
        }
        clientDone = stepped.status === Sasl.OK;
        if (complete && clientDone) break;
        reply = await call(RemoteProc.AUTH_SASL_STEP, encodeData(stepped.output));
        ({ complete, data } = decodeStepReply(reply));
        if (complete && clientDone) break;
      }
    }

    const ssf = client.ssf();
    if (!options.channelIsSecure && ssf < MIN_INSECURE_SSF) {
      throw new SaslError(`${what}: negotiation SSF ${ssf} was not strong enough`);
    }
    if (ssf === 0) {
      client.dispose();
      return { mechanism, layer: null, ssf };
    }
    return { mechanism, layer: client, ssf };
  } catch (error) {
    client.dispose();
    if (error instanceof SaslError) throw error;
    if (error instanceof Error && error.message.startsWith("Failed to ")) {
      // The library's own failure, worded as libvirt words it.
      throw new SaslError(`${what}: authentication failed: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** The mechanism `auth=sasl.MECH` asks for, if any. */
function wantedMechanism(uri: LibvirtUri): string | undefined {
  const auth = uri.options.auth;
  if (!auth || auth.length <= 5 || auth.slice(0, 5).toLowerCase() !== "sasl.") return undefined;
  return auth.slice(5);
}

function decodeStepReply(reply: Uint8Array): { complete: boolean; data: Uint8Array | null } {
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  const complete = view.getInt32(HEADER_BYTES) !== 0;
  const nil = view.getInt32(HEADER_BYTES + 4) !== 0;
  const data = decodeData(reply, HEADER_BYTES + 8);
  // NB, as libvirt says: the distinction of NULL and "" is critical in SASL.
  return { complete, data: nil ? null : data };
}

/** XDR string: length, bytes, padding to 4. */
function encodeString(text: string): Uint8Array {
  return encodeOpaque(encoder.encode(text));
}

function decodeString(frame: Uint8Array, at: number): string {
  const length = new DataView(frame.buffer, frame.byteOffset).getUint32(at);
  return decoder.decode(frame.subarray(at + 4, at + 4 + length));
}

/**
 * `int nil; char data<REMOTE_AUTH_SASL_DATA_MAX>` as libvirt's rpcgen code sends it: a `char`
 * array is xdr_array of xdr_char, so each byte travels as a signed 4-byte int (not as opaque).
 */
function encodeData(data: Uint8Array | null): Uint8Array {
  const bytes = data ?? new Uint8Array(0);
  if (bytes.length > SASL_DATA_MAX) {
    throw new SaslError(`SASL negotiation data too long: ${bytes.length} bytes`);
  }
  const out = new Uint8Array(8 + 4 * bytes.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, data === null ? 1 : 0);
  view.setUint32(4, bytes.length);
  for (let i = 0; i < bytes.length; i++) view.setInt32(8 + 4 * i, (bytes[i] << 24) >> 24);
  return out;
}

function decodeData(frame: Uint8Array, at: number): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const length = view.getUint32(at);
  if (length > SASL_DATA_MAX || at + 4 + 4 * length > frame.length) {
    throw new SaslError(`SASL negotiation data from the server is malformed: length ${length}`);
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getInt32(at + 4 + 4 * i) & 0xff;
  return out;
}

function encodeOpaque(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + ((bytes.length + 3) & ~3));
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
