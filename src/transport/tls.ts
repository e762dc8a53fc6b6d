/**
 * The tls transport: mutual TLS to libvirtd's port 16514 with the client files libvirt uses
 * ({@linkcode locatePkiFiles}), then libvirt's one confirmation byte.
 *
 * After the handshake the daemon checks our certificate (and its tls_allowed_dn_list, and our
 * address) and sends one byte, `\1`, inside TLS; anything else means it refused us
 * (virNetClientSetTLSSession in src/rpc/virnetclient.c). The byte is consumed here, so the
 * channel returned carries frames only.
 *
 * Verified connections use `Deno.connectTls` (rustls): it checks the server's certificate against
 * the CA file and the URI's host name. `no_verify=1` (libvirt: "ignoring bad certificate at user
 * request") has no switch there, so that case alone uses node:tls with
 * `rejectUnauthorized: false`, behind a small {@linkcode Channel} adapter.
 *
 * Differences from libvirt's GnuTLS client: `tls_priority=` (a GnuTLS priority string) is ignored
 * with a warning; a revocation list is not checked (warning when cacrl.pem exists); rustls, unlike
 * GnuTLS, does not accept a server certificate whose name is only in its subject CN (it needs a
 * subjectAltName), and it does not accept TLS 1.1 or older.
 *
 * @module
 */

import * as nodeTls from "node:tls";
import { defaultPort } from "../uri/remote.ts";
import type { LibvirtUri } from "../uri/uri.ts";
import { type Channel, DialError } from "./channel.ts";
import { NodeSocketChannel } from "./node_socket_channel.ts";
import {
  DEFAULT_DIAL_TIMEOUT_MS,
  describeCause,
  type DialOptions,
  withDeadline,
} from "./_dial_common.ts";
import { loadPki, locatePkiFiles, PkiError, type PkiMaterial } from "./pki.ts";

/** The byte libvirtd sends once it has accepted our certificate and address. */
export const TLS_CONFIRMATION_BYTE = 1;

/** The words used whenever the confirmation byte is missing or wrong. */
const REJECTED = "the daemon rejected our certificate or address";

/** Options for {@linkcode dialTls}: {@linkcode DialOptions} plus what tests replace. */
export interface DialTlsOptions extends DialOptions {
  /** Effective uid for locating the files (root uses only the system files). */
  uid?: number;
  /** Home directory for the per-user files. */
  home?: string;
}

/**
 * Connects with TLS to the host and port of `uri`, checks the daemon's confirmation byte and
 * returns the channel.
 *
 * @throws {DialError} naming the upstream, the URI and the file or check that failed.
 */
export async function dialTls(uri: LibvirtUri, options: DialTlsOptions): Promise<Channel> {
  const hostname = uri.host || "localhost";
  const port = uri.port ?? defaultPort(uri);
  const prefix = `Cannot connect to upstream "${options.name}" (${uri.text})`;
  const where = `${prefix} at ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  const logger = options.logger?.child({ upstream: options.name });

  let pki: PkiMaterial;
  try {
    const files = locatePkiFiles({
      pkipath: uri.options.pkipath,
      uid: options.uid,
      home: options.home,
    });
    pki = loadPki(files, { sanity: !uri.options.noSanity });
  } catch (error) {
    if (error instanceof PkiError) {
      throw new DialError(`${prefix}: ${error.message}`, { cause: error });
    }
    throw error;
  }
  if (pki.caCrl !== undefined) {
    logger?.warning("TLS revocation list is not checked", { file: pki.files.caCrl });
  }
  if (uri.options.tlsPriority !== undefined) {
    logger?.warning("TLS priority string is ignored", { tls_priority: uri.options.tlsPriority });
  }
  const noVerify = uri.options.noVerify;
  if (noVerify) {
    logger?.warning("TLS server certificate verification is off for this upstream (no_verify=1)");
  }

  let stage = "connect";
  // What the attempt holds open, so that a timeout can close it whatever stage it is stuck in.
  let pending: { close(): void } | undefined;
  const attempt = async (): Promise<Channel> => {
    const channel = noVerify
      ? await connectUnverified(hostname, port, pki, (socket) => pending = socket)
      : await connectVerified(hostname, port, pki, (conn) => pending = conn);
    stage = "confirm";
    try {
      await readConfirmation(channel);
    } catch (error) {
      channel.close();
      throw error;
    }
    return channel;
  };
  try {
    return await withDeadline(
      where,
      options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      attempt,
      (channel) => channel.close(),
    );
  } catch (error) {
    if (error instanceof DialError) {
      try {
        pending?.close();
      } catch { /* already closed */ }
      throw error;
    }
    throw new DialError(`${where}: ${explain(error, stage, hostname, pki)}`, { cause: error });
  }
}

class ConfirmationError extends Error {}

/** The cause's message without the documentation link rustls appends to some. */
function tlsCause(error: unknown): string {
  return describeCause(error).replace(/: https?:\/\/\S+$/, "");
}

async function readConfirmation(channel: Channel): Promise<void> {
  const byte = new Uint8Array(1);
  let count: number | null;
  try {
    count = await channel.read(byte);
  } catch (error) {
    throw new ConfirmationError(
      `${REJECTED} (the connection failed instead of sending the confirmation byte: ${
        tlsCause(error)
      })`,
    );
  }
  if (count === null || count === 0) {
    throw new ConfirmationError(
      `${REJECTED} (the connection closed instead of sending the confirmation byte)`,
    );
  }
  if (byte[0] !== TLS_CONFIRMATION_BYTE) {
    throw new ConfirmationError(
      `${REJECTED} (confirmation byte was ${byte[0]}, expected ${TLS_CONFIRMATION_BYTE})`,
    );
  }
}

async function connectVerified(
  hostname: string,
  port: number,
  pki: PkiMaterial,
  hold: (conn: Deno.TlsConn) => void,
): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({
    hostname,
    port,
    caCerts: [pki.caCert],
    cert: pki.clientCert,
    key: pki.clientKey,
  });
  hold(conn);
  try {
    await conn.handshake();
  } catch (error) {
    conn.close();
    throw error;
  }
  return conn;
}

/** Says which check failed, from rustls's and the system's messages. */
function explain(error: unknown, stage: string, hostname: string, pki: PkiMaterial): string {
  if (error instanceof ConfirmationError) return error.message;
  const cause = tlsCause(error);
  if (/UnknownIssuer|unknown ?ca|BadSignature|self.signed/i.test(cause)) {
    return `the server certificate is not signed by the CA in "${pki.files.caCert}" (wrong CA): ${cause}`;
  }
  if (/NotValidForName|not valid for name/i.test(cause)) {
    return `the server certificate does not match the host name "${hostname}" (name mismatch): ${cause}`;
  }
  if (/Expired/.test(cause)) return `the server certificate has expired: ${cause}`;
  if (/NotValidYet/.test(cause)) return `the server certificate is not yet valid: ${cause}`;
  if (/Revoked/.test(cause)) return `the server certificate has been revoked: ${cause}`;
  if (stage === "connect" && /close_notify|UnexpectedEof|BadCertificate|alert/i.test(cause)) {
    return `${REJECTED} (the TLS handshake failed: ${cause})`;
  }
  return cause;
}

function connectUnverified(
  hostname: string,
  port: number,
  pki: PkiMaterial,
  hold: (socket: { close(): void }) => void,
): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const socket = nodeTls.connect({
      host: hostname,
      port,
      servername: /^[\d.]+$|:/.test(hostname) ? undefined : hostname,
      rejectUnauthorized: false,
      ca: pki.caCert,
      cert: pki.clientCert,
      key: pki.clientKey,
    });
    hold({ close: () => socket.destroy() });
    const onError = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once("error", onError);
    socket.once("secureConnect", () => {
      socket.off("error", onError);
      socket.setNoDelay(true);
      resolve(new NodeSocketChannel(socket));
    });
  });
}
