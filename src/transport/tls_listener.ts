/**
 * The TLS front: a listener that speaks to libvirt clients as libvirtd's TLS port does
 * (src/rpc/virnetserverclient.c, virNetServerClientCheckAccess; src/rpc/virnettlscontext.c).
 *
 * - The server presents `cert_file`/`key_file` and asks for a client certificate, without
 *   failing the handshake when none or a bad one comes (as GnuTLS's GNUTLS_CERT_REQUEST).
 * - After the handshake the client's certificate is checked: present, chaining to `ca_file`, not
 *   revoked by `crl_file`, and its subject, formatted as libvirt formats it
 *   ({@linkcode certificateSubjectDn}), matching a `tls_allowed_dn_list` wildcard when a list is
 *   set. `tls_no_verify_certificate` skips every check, as libvirtd's does.
 * - Passed: one byte, `\1`, inside TLS, then libvirt RPC. Refused: the connection is dropped
 *   without a TLS close, as libvirtd drops it, so the client prints the same "Unable to read TLS
 *   confirmation: Input/output error".
 *
 * node:tls rather than `Deno.listenTls`, which cannot ask for client certificates. TLS 1.2 at
 * most: Deno's TLS 1.3 server sends session tickets right after the handshake, and libvirt's
 * client (9.0) takes the first record after the handshake for the confirmation byte and fails
 * ("Unable to read TLS confirmation: Resource temporarily unavailable"); libvirtd sends none.
 * Deno's TLS server accepts a `crl` option but ignores it, hence {@linkcode RevocationList}.
 *
 * @module
 */

import type * as net from "node:net";
import * as tls from "node:tls";
import { errorMessage } from "../log/error_message.ts";
import type { Logger } from "../log/logger.ts";
import { certificateSubjectDn } from "./distinguished_name.ts";
import { dnMatchesAny } from "./dn_pattern.ts";
import { formatAddress, type ListenAddress } from "./network_address.ts";
import { listenTcpSocket } from "./tcp_socket.ts";
import { AcceptQueue, type NetworkListener } from "./net_listener.ts";
import { NodeSocketChannel } from "./node_socket_channel.ts";
import { parseRevocationList, type RevocationList } from "./revocation_list.ts";

/** The byte libvirtd sends once it has accepted a client's certificate. */
const CONFIRMATION = new Uint8Array([1]);
/** Time for the refused client's last handshake bytes to leave before the drop. */
const DROP_DELAY_MS = 20;

/** Options for {@linkcode listenTls} and {@linkcode TlsListener.reload}. */
export interface TlsFrontOptions {
  /** The server's private key (PEM). */
  keyFile: string;
  /** The server's certificate (PEM). */
  certFile: string;
  /** The CA certificate(s) client certificates must chain to (PEM). */
  caFile: string;
  /** A revocation list (PEM); undefined for none. */
  crlFile?: string;
  /** Wildcards a client's DN must match; undefined lets every verified certificate in. */
  allowedDns?: readonly string[];
  /** Let every client in, with or without a valid certificate. */
  noVerifyCertificate: boolean;
  /** Time a client has to complete the handshake, in ms. */
  handshakeTimeoutMs: number;
  /** Where refused clients and failed handshakes are noted. */
  logger: Logger;
}

/** A listening TLS front. */
export interface TlsListener extends NetworkListener {
  /**
   * Reads the files of `options` again and uses them and its checks for clients from now on;
   * connected clients stay. On error the old files stay in force.
   *
   * @throws {Error} naming the file that cannot be used
   */
  reload(options: TlsFrontOptions): Promise<void>;
}

/** What the checks of one generation of options need. */
interface Context {
  server: tls.Server;
  crl?: RevocationList;
  options: TlsFrontOptions;
}

/**
 * Listens for TLS clients on `address` (`label` names it in messages, e.g. `tls://[::]:16514`).
 *
 * @throws {Error} naming the label and the file or the address that cannot be used
 */
export async function listenTls(
  address: ListenAddress,
  label: string,
  options: TlsFrontOptions,
): Promise<TlsListener> {
  const queue = new AcceptQueue();
  // Peers whose handshake is under way; the raw and the TLS socket share the peer address.
  const handshaking = new Set<string>();
  const settled = (peer: string) => handshaking.delete(peer);
  let context = await makeContext(label, options, queue, settled);
  const listener = await listenTcpSocket(address, label, (raw) => {
    raw.setNoDelay(true);
    const current = context;
    const peer = peerOf(raw);
    handshaking.add(peer);
    const deadline = setTimeout(() => {
      if (!handshaking.has(peer)) return;
      current.options.logger.info("TLS handshake timed out", { peer });
      raw.destroy();
    }, current.options.handshakeTimeoutMs);
    raw.once("close", () => {
      clearTimeout(deadline);
      settled(peer);
    });
    // A client gone before its handshake ended: node:tls would hold it until the deadline.
    raw.once("end", () => handshaking.has(peer) && raw.destroy());
    current.server.emit("connection", raw);
  }, (error) => {
    context.options.logger.warning("Accepting a client failed; still listening", {
      error: errorMessage(error),
    });
  });
  return {
    path: label,
    peerCredentials: false,
    port: listener.port,
    clients: () => queue.clients(),
    close() {
      listener.close();
      queue.close();
    },
    remove() {},
    async reload(next: TlsFrontOptions) {
      context = await makeContext(label, next, queue, settled);
    },
  };
}

async function makeContext(
  label: string,
  options: TlsFrontOptions,
  queue: AcceptQueue,
  settled: (peer: string) => void,
): Promise<Context> {
  const read = async (key: string, file: string) => {
    try {
      return await Deno.readTextFile(file);
    } catch (error) {
      throw new Error(
        `Cannot listen on "${label}": cannot read ${key} "${file}": ${errorMessage(error)}`,
      );
    }
  };
  const key = await read("key_file", options.keyFile);
  const cert = await read("cert_file", options.certFile);
  const ca = await read("ca_file", options.caFile);
  let crl: RevocationList | undefined;
  if (options.crlFile !== undefined) {
    try {
      crl = parseRevocationList(await read("crl_file", options.crlFile), ca, options.crlFile);
    } catch (error) {
      const message = errorMessage(error);
      throw new Error(
        message.startsWith("Cannot listen") ? message : `Cannot listen on "${label}": ${message}`,
      );
    }
  }
  let server: tls.Server;
  try {
    server = tls.createServer({
      key,
      cert,
      ca,
      requestCert: true,
      rejectUnauthorized: false,
      maxVersion: "TLSv1.2",
    });
  } catch (error) {
    throw new Error(
      `Cannot listen on "${label}": cannot use key_file "${options.keyFile}" with cert_file ` +
        `"${options.certFile}": ${errorMessage(error)}`,
    );
  }
  const context: Context = { server, crl, options };
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    options.logger.info("TLS handshake failed", {
      peer: peerOf(socket),
      error: errorMessage(error),
    });
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    settled(peerOf(socket));
    admit(context, socket, queue);
  });
  return context;
}

/** Checks a client that completed the handshake; confirms and queues it, or drops it. */
function admit(context: Context, socket: tls.TLSSocket, queue: AcceptQueue): void {
  const address = peerOf(socket);
  const der = socket.getPeerCertificate(true)?.raw as Uint8Array | undefined;
  let dn: string | undefined;
  let refusal: string | undefined;
  if (der !== undefined && der.length > 0) {
    try {
      dn = certificateSubjectDn(der);
    } catch (error) {
      refusal = `Failed to get certificate distinguished name: ${errorMessage(error)}`;
    }
  }
  const { options, crl } = context;
  if (!options.noVerifyCertificate) {
    refusal ??= certificateRefusal(socket, der, dn, crl, options.allowedDns);
  }
  const log = options.logger;
  if (refusal !== undefined) {
    log.warning("Client refused: certificate not accepted", { peer: address, dn, reason: refusal });
    // No TLS close: libvirt clients then report what they report against libvirtd.
    setTimeout(() => socket.destroy(), DROP_DELAY_MS);
    return;
  }
  if (options.noVerifyCertificate && der !== undefined && !socket.authorized) {
    log.info("Ignoring bad certificate (tls_no_verify_certificate)", { peer: address, dn });
  }
  socket.write(CONFIRMATION);
  queue.push({ channel: new NodeSocketChannel(socket), address, certificateDn: dn });
}

/** libvirtd's reason to refuse the certificate, or undefined when it passes. */
function certificateRefusal(
  socket: tls.TLSSocket,
  der: Uint8Array | undefined,
  dn: string | undefined,
  crl: RevocationList | undefined,
  allowedDns: readonly string[] | undefined,
): string | undefined {
  if (der === undefined || der.length === 0) {
    return "Unable to verify TLS peer: No certificate was found.";
  }
  if (!socket.authorized) {
    return `Certificate failed validation: ${socket.authorizationError ?? "not trusted"}`;
  }
  if (crl?.revokes(der)) return "Certificate failed validation: The certificate has been revoked.";
  if (allowedDns !== undefined && (dn === undefined || !dnMatchesAny(allowedDns, dn))) {
    return "Client's Distinguished Name is not on the list of allowed clients " +
      "(tls_allowed_dn_list)";
  }
  return undefined;
}

function peerOf(socket: net.Socket): string {
  return socket.remoteAddress === undefined
    ? "unknown"
    : formatAddress(socket.remoteAddress, socket.remotePort ?? 0);
}
