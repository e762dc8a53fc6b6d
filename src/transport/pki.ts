/**
 * The certificate files of libvirt's TLS client, found where libvirt finds them and checked as
 * libvirt checks them before it connects (src/rpc/virnettlscontext.c,
 * virNetTLSContextLocateCredentials and virNetTLSContextSanityCheckCredentials).
 *
 * - `pkipath=DIR`: DIR/cacert.pem, DIR/clientcert.pem, DIR/clientkey.pem, whether they exist or not.
 * - root: /etc/pki/CA/cacert.pem, /etc/pki/libvirt/clientcert.pem,
 *   /etc/pki/libvirt/private/clientkey.pem.
 * - anyone else: $HOME/.pki/libvirt/cacert.pem if it exists, and $HOME/.pki/libvirt/clientcert.pem
 *   with clientkey.pem if both exist (they go as a pair); the system files for what is missing.
 *
 * The optional certificate revocation list (cacrl.pem beside the CA certificate, or
 * /etc/pki/CA/cacrl.pem) is located the same way, but Deno's TLS client cannot use one: the
 * transport logs a warning when it exists.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { errorMessage } from "../log/error_message.ts";
import { fileExists } from "../uri/remote.ts";

/** libvirt's system-wide client files (SYSCONFDIR "/pki/..."). */
export const SYSTEM_PKI = {
  caCert: "/etc/pki/CA/cacert.pem",
  caCrl: "/etc/pki/CA/cacrl.pem",
  clientCert: "/etc/pki/libvirt/clientcert.pem",
  clientKey: "/etc/pki/libvirt/private/clientkey.pem",
} as const;

/** Where the TLS client's files are. */
export interface PkiFiles {
  /** The CA certificate(s) the server's certificate must chain to. */
  caCert: string;
  /** A revocation list, used only when the file exists. */
  caCrl: string;
  /** Our client certificate. */
  clientCert: string;
  /** Our client certificate's private key (RSA or EC; PKCS#1, SEC1 or PKCS#8 PEM). */
  clientKey: string;
}

/** Options for {@linkcode locatePkiFiles}. */
export interface LocatePkiOptions {
  /** The URI's `pkipath=` directory, if any. */
  pkipath?: string;
  /** Effective user id; 0 skips the per-user files. Defaults to this process's. */
  uid?: number;
  /** Home directory for the per-user files. Defaults to $HOME. */
  home?: string;
  /** Existence test, replaceable in tests. */
  exists?: (path: string) => boolean;
}

/** Picks the files libvirt's client would use, by libvirt's rules (see the module doc). */
export function locatePkiFiles(options: LocatePkiOptions = {}): PkiFiles {
  const exists = options.exists ?? fileExists;
  if (options.pkipath !== undefined && options.pkipath !== "") {
    const dir = options.pkipath.replace(/\/+$/, "") || "/";
    const join = (name: string) => dir === "/" ? `/${name}` : `${dir}/${name}`;
    return {
      caCert: join("cacert.pem"),
      caCrl: join("cacrl.pem"),
      clientCert: join("clientcert.pem"),
      clientKey: join("clientkey.pem"),
    };
  }
  const files: PkiFiles = { ...SYSTEM_PKI };
  const uid = options.uid ?? Deno.uid() ?? 0;
  const home = options.home ?? Deno.env.get("HOME");
  if (uid !== 0 && home) {
    const user = `${home.replace(/\/+$/, "")}/.pki/libvirt`;
    if (exists(`${user}/cacert.pem`)) files.caCert = `${user}/cacert.pem`;
    if (exists(`${user}/cacrl.pem`)) files.caCrl = `${user}/cacrl.pem`;
    if (exists(`${user}/clientcert.pem`) && exists(`${user}/clientkey.pem`)) {
      files.clientCert = `${user}/clientcert.pem`;
      files.clientKey = `${user}/clientkey.pem`;
    }
  }
  return files;
}

/** The PEM text of the client's files, ready for a TLS connect. */
export interface PkiMaterial {
  /** Where each came from. */
  files: PkiFiles;
  /** CA certificate PEM (may hold several certificates). */
  caCert: string;
  /** Revocation list PEM, when the file exists. */
  caCrl?: string;
  /** Client certificate PEM. */
  clientCert: string;
  /** Client private key PEM. */
  clientKey: string;
}

/** A certificate file that is missing, unreadable or fails a check; the message names the file. */
export class PkiError extends Error {
  /** Makes the error; `message` names the file and the check. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PkiError";
  }
}

const KIND = {
  caCert: "CA certificate",
  clientCert: "client certificate",
  clientKey: "client key",
} as const;

function readPem(kind: keyof typeof KIND, path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : errorMessage(error);
    throw new PkiError(`cannot read ${KIND[kind]} "${path}": ${reason}`, { cause: error });
  }
  if (!text.includes("-----BEGIN ")) {
    throw new PkiError(`cannot read ${KIND[kind]} "${path}": not a PEM file`);
  }
  return text;
}

/** Splits a PEM bundle into its certificates. */
function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function parseCertificates(kind: "caCert" | "clientCert", path: string, text: string) {
  const blocks = pemCertificates(text);
  if (blocks.length === 0) {
    throw new PkiError(`cannot read ${KIND[kind]} "${path}": no certificate in it`);
  }
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch (error) {
    throw new PkiError(`cannot read ${KIND[kind]} "${path}": not a valid certificate`, {
      cause: error,
    });
  }
}

function checkTimes(kind: string, path: string, cert: X509Certificate, now: Date): void {
  if (cert.validToDate.getTime() < now.getTime()) {
    throw new PkiError(`the ${kind} "${path}" has expired (valid until ${cert.validTo})`);
  }
  if (cert.validFromDate.getTime() > now.getTime()) {
    throw new PkiError(`the ${kind} "${path}" is not yet active (valid from ${cert.validFrom})`);
  }
}

/** Options for {@linkcode loadPki}. */
export interface LoadPkiOptions {
  /**
   * Check our own files as libvirt does unless `no_sanity=1`: dates, the CA flag, the client
   * certificate signed by the CA, the key matching the certificate.
   *
   * @default {true}
   */
  sanity?: boolean;
  /** The time to check against; replaceable in tests. */
  now?: Date;
}

/**
 * Reads the files and, with `sanity`, checks them the way libvirt does before connecting.
 *
 * @throws {PkiError} naming the file and what is wrong with it.
 */
export function loadPki(files: PkiFiles, options: LoadPkiOptions = {}): PkiMaterial {
  const caCert = readPem("caCert", files.caCert);
  const clientCert = readPem("clientCert", files.clientCert);
  const clientKey = readPem("clientKey", files.clientKey);
  let caCrl: string | undefined;
  try {
    caCrl = Deno.readTextFileSync(files.caCrl);
  } catch { /* optional */ }

  let key;
  try {
    key = createPrivateKey(clientKey);
  } catch (error) {
    throw new PkiError(
      `cannot read client key "${files.clientKey}": not a PEM private key (RSA or EC, PKCS#1, SEC1 or PKCS#8, unencrypted)`,
      { cause: error },
    );
  }
  const cas = parseCertificates("caCert", files.caCert, caCert);
  const [cert] = parseCertificates("clientCert", files.clientCert, clientCert);

  if (options.sanity ?? true) {
    const now = options.now ?? new Date();
    for (const ca of cas) {
      checkTimes("CA certificate", files.caCert, ca, now);
      if (!ca.ca) {
        throw new PkiError(
          `the CA certificate "${files.caCert}" basic constraints do not show a CA`,
        );
      }
    }
    checkTimes("client certificate", files.clientCert, cert, now);
    if (cert.ca) {
      throw new PkiError(
        `the client certificate "${files.clientCert}" basic constraints show a CA, but we need one for a client`,
      );
    }
    if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
      throw new PkiError(
        `the client certificate "${files.clientCert}" failed validation against "${files.caCert}": the certificate has not got a known issuer`,
      );
    }
    if (!cert.checkPrivateKey(key)) {
      throw new PkiError(
        `the client key "${files.clientKey}" does not match the client certificate "${files.clientCert}"`,
      );
    }
  }
  return { files, caCert, caCrl, clientCert, clientKey };
}
