/**
 * A throwaway X.509 PKI made with the `openssl` command, laid out the way libvirt reads it: the
 * daemon's `cacert.pem` / `servercert.pem` / `serverkey.pem`, and a client `pkipath` directory with
 * `cacert.pem` / `clientcert.pem` / `clientkey.pem`. Extras for negative tests are opt-in.
 *
 * @module
 */

import { join } from "node:path";
import { runCommand } from "./process.ts";

/** Options for {@linkcode makePki}. */
export interface PkiOptions {
  /**
   * Key algorithm for every key: RSA 2048 or EC P-256.
   *
   * @default {"rsa"}
   */
  keyType?: "rsa" | "ec";
  /**
   * Private key encoding: `"pkcs8"` (`BEGIN PRIVATE KEY`) or `"traditional"` (PKCS#1
   * `BEGIN RSA PRIVATE KEY` for RSA, SEC1 `BEGIN EC PRIVATE KEY` for EC).
   *
   * @default {"pkcs8"}
   */
  keyFormat?: "pkcs8" | "traditional";
  /**
   * Validity of the normal certificates, in days.
   *
   * @default {30}
   */
  days?: number;
  /** Also make a second, unrelated CA with its own client certificate. */
  otherCa?: boolean;
  /** Also make a server certificate, signed by the main CA, for the wrong name. */
  wrongNameServer?: boolean;
  /** Also make a client certificate, signed by the main CA, that expired yesterday. */
  expiredClient?: boolean;
}

/** A certificate and its private key, as file paths. */
export interface CertFiles {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (unencrypted). */
  key: string;
}

/** The files {@linkcode makePki} wrote. */
export interface Pki {
  /** The directory everything is under. */
  dir: string;
  /** The CA (cert and key). */
  ca: CertFiles;
  /** The daemon side: a directory with `cacert.pem`, `servercert.pem`, `serverkey.pem`. */
  serverDir: string;
  /** Server certificate: CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1. */
  server: CertFiles;
  /** Client `pkipath`: a directory with `cacert.pem`, `clientcert.pem`, `clientkey.pem`. */
  clientPkiPath: string;
  /** Client certificate (CN=virtmux-test-client). */
  client: CertFiles;
  /** With `otherCa`: an unrelated CA and a pkipath whose CA and client cert both come from it. */
  otherCa?: { ca: CertFiles; clientPkiPath: string; client: CertFiles };
  /** With `wrongNameServer`: a server cert for CN/SAN `wrong.invalid`, signed by the main CA. */
  wrongNameServer?: CertFiles;
  /** With `expiredClient`: a pkipath with the main CA and a client cert that expired yesterday. */
  expiredClient?: { clientPkiPath: string; client: CertFiles };
}

const CA_EXT = [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
  "subjectKeyIdentifier=hash",
];
const SERVER_EXT = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth",
];
const CLIENT_EXT = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=clientAuth",
];

/**
 * Makes a CA, a server certificate for localhost/127.0.0.1 and a client certificate under `dir`.
 *
 * @param dir an existing directory (owned by the caller)
 * @param options key type and format, validity and the optional negative-test extras
 * @returns paths of everything written
 * @throws {Error} when an openssl command fails, with its stderr
 */
export async function makePki(dir: string, options: PkiOptions = {}): Promise<Pki> {
  const days = options.days ?? 30;
  const keyOf = (name: string) => makeKey(join(dir, name), options);
  const caDir = join(dir, "ca");
  const serverDir = join(dir, "server");
  const clientPkiPath = join(dir, "client");
  for (const d of [caDir, serverDir, clientPkiPath]) await Deno.mkdir(d, { recursive: true });

  const ca = await makeCa(
    join(caDir, "cacert.pem"),
    await keyOf("ca/cakey.pem"),
    "virtmux test CA",
    days,
  );
  const server = await signCert(ca, {
    key: await keyOf("server/serverkey.pem"),
    cert: join(serverDir, "servercert.pem"),
    subject: "/O=virtmux/CN=localhost",
    extensions: [...SERVER_EXT, "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"],
    days,
  });
  await Deno.copyFile(ca.cert, join(serverDir, "cacert.pem"));
  const client = await signCert(ca, {
    key: await keyOf("client/clientkey.pem"),
    cert: join(clientPkiPath, "clientcert.pem"),
    subject: "/O=virtmux/CN=virtmux-test-client",
    extensions: CLIENT_EXT,
    days,
  });
  await Deno.copyFile(ca.cert, join(clientPkiPath, "cacert.pem"));
  const pki: Pki = { dir, ca, serverDir, server, clientPkiPath, client };

  if (options.otherCa) {
    const otherDir = join(dir, "other-ca");
    const otherPki = join(dir, "other-client");
    await Deno.mkdir(otherDir);
    await Deno.mkdir(otherPki);
    const other = await makeCa(
      join(otherDir, "cacert.pem"),
      await keyOf("other-ca/cakey.pem"),
      "unrelated CA",
      days,
    );
    const otherClient = await signCert(other, {
      key: await keyOf("other-client/clientkey.pem"),
      cert: join(otherPki, "clientcert.pem"),
      subject: "/O=elsewhere/CN=virtmux-test-client",
      extensions: CLIENT_EXT,
      days,
    });
    await Deno.copyFile(other.cert, join(otherPki, "cacert.pem"));
    pki.otherCa = { ca: other, clientPkiPath: otherPki, client: otherClient };
  }

  if (options.wrongNameServer) {
    pki.wrongNameServer = await signCert(ca, {
      key: await keyOf("server/wrongname-serverkey.pem"),
      cert: join(serverDir, "wrongname-servercert.pem"),
      subject: "/O=virtmux/CN=wrong.invalid",
      extensions: [...SERVER_EXT, "subjectAltName=DNS:wrong.invalid"],
      days,
    });
  }

  if (options.expiredClient) {
    // openssl 3.0's x509/req have no -not_before/-not_after (3.4+ do) and -days must be
    // positive, but `openssl ca` takes explicit -startdate/-enddate.
    const expiredPki = join(dir, "expired-client");
    await Deno.mkdir(expiredPki);
    const expired = await signWithCaCommand(ca, {
      key: await keyOf("expired-client/clientkey.pem"),
      cert: join(expiredPki, "clientcert.pem"),
      subject: "/O=virtmux/CN=virtmux-expired-client",
      extensions: CLIENT_EXT,
      notBefore: new Date(Date.now() - 3 * 86400_000),
      notAfter: new Date(Date.now() - 86400_000),
      workDir: join(dir, "ca"),
    });
    await Deno.copyFile(ca.cert, join(expiredPki, "cacert.pem"));
    pki.expiredClient = { clientPkiPath: expiredPki, client: expired };
  }
  return pki;
}

/**
 * Makes one more client certificate signed by the main CA of `pki`, with its own `pkipath`
 * directory (cacert.pem, clientcert.pem, clientkey.pem) under the PKI's directory.
 *
 * @param pki a PKI from {@linkcode makePki}
 * @param name the directory name, unique within the PKI
 * @param subject the subject in openssl's `-subj` form, e.g. `/O=virtmux/CN=alice`
 */
export async function makeClientPki(
  pki: Pki,
  name: string,
  subject: string,
): Promise<{ clientPkiPath: string; client: CertFiles }> {
  const dir = join(pki.dir, name);
  await Deno.mkdir(dir);
  const client = await signCert(pki.ca, {
    key: await makeKey(join(dir, "clientkey.pem"), {}),
    cert: join(dir, "clientcert.pem"),
    subject,
    extensions: CLIENT_EXT,
    days: 30,
  });
  await Deno.copyFile(pki.ca.cert, join(dir, "cacert.pem"));
  return { clientPkiPath: dir, client };
}

/**
 * Writes a certificate revocation list, signed by the main CA of `pki`, that revokes `revoked`.
 *
 * @param pki a PKI from {@linkcode makePki}
 * @param revoked the certificates to revoke (none for an empty list)
 * @param path where to write the PEM CRL
 */
export async function makeCrl(pki: Pki, revoked: CertFiles[], path: string): Promise<string> {
  const db = await Deno.makeTempDir({ dir: pki.dir, prefix: "crl-db" });
  await Deno.writeTextFile(join(db, "index.txt"), "");
  await Deno.writeTextFile(join(db, "crlnumber"), "01\n");
  const conf = join(db, "ca.cnf");
  await Deno.writeTextFile(
    conf,
    [
      "[ca]",
      "default_ca = test_ca",
      "[test_ca]",
      `database = ${join(db, "index.txt")}`,
      `crlnumber = ${join(db, "crlnumber")}`,
      "default_md = sha256",
      "default_crl_days = 30",
      "",
    ].join("\n"),
  );
  const ca = ["-config", conf, "-cert", pki.ca.cert, "-keyfile", pki.ca.key];
  for (const cert of revoked) await openssl(["ca", ...ca, "-revoke", cert.cert]);
  await openssl(["ca", ...ca, "-gencrl", "-out", path]);
  return path;
}

async function openssl(args: string[]): Promise<string> {
  const result = await runCommand("openssl", args, { env: { LC_ALL: "C" } });
  if (result.code !== 0) {
    throw new Error(
      `Cannot run "openssl ${args[0]}": exit ${result.code}: ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

async function makeKey(path: string, options: PkiOptions): Promise<string> {
  const keyType = options.keyType ?? "rsa";
  const args = keyType === "rsa"
    ? ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    : ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
  if (options.keyFormat === "traditional") {
    // genpkey always writes PKCS#8; convert to the algorithm's own (PKCS#1 / SEC1) encoding.
    const pkcs8 = `${path}.pkcs8`;
    await openssl([...args, "-out", pkcs8]);
    // `openssl rsa` needs -traditional for PKCS#1; `openssl ec` writes SEC1 by default.
    const convert = keyType === "rsa" ? ["rsa", "-traditional"] : ["ec"];
    await openssl([...convert, "-in", pkcs8, "-out", path]);
    await Deno.remove(pkcs8);
  } else {
    await openssl([...args, "-out", path]);
  }
  await Deno.chmod(path, 0o600);
  return path;
}

async function makeCa(cert: string, key: string, name: string, days: number): Promise<CertFiles> {
  await openssl([
    "req",
    "-new",
    "-x509",
    "-key",
    key,
    "-out",
    cert,
    "-days",
    String(days),
    "-subj",
    `/O=virtmux/CN=${name}`,
    ...CA_EXT.flatMap((e) => ["-addext", e]),
  ]);
  return { cert, key };
}

interface SignRequest {
  key: string;
  cert: string;
  subject: string;
  extensions: string[];
  days: number;
}

async function signCert(ca: CertFiles, request: SignRequest): Promise<CertFiles> {
  await openssl([
    "req",
    "-new",
    "-key",
    request.key,
    "-subj",
    request.subject,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-out",
    request.cert,
    "-days",
    String(request.days),
    "-set_serial",
    randomSerial(),
    ...request.extensions.flatMap((e) => ["-addext", e]),
  ]);
  return { cert: request.cert, key: request.key };
}

interface CaCommandRequest {
  key: string;
  cert: string;
  subject: string;
  extensions: string[];
  notBefore: Date;
  notAfter: Date;
  workDir: string;
}

async function signWithCaCommand(ca: CertFiles, request: CaCommandRequest): Promise<CertFiles> {
  const db = join(request.workDir, "ca-db");
  await Deno.mkdir(db, { recursive: true });
  await Deno.writeTextFile(join(db, "index.txt"), "");
  await Deno.writeTextFile(join(db, "serial"), `${randomSerial().slice(2)}\n`);
  const conf = join(db, "ca.cnf");
  await Deno.writeTextFile(
    conf,
    [
      "[ca]",
      "default_ca = test_ca",
      "[test_ca]",
      `dir = ${db}`,
      "database = $dir/index.txt",
      "serial = $dir/serial",
      "new_certs_dir = $dir",
      "default_md = sha256",
      "policy = policy_any",
      "unique_subject = no",
      "copy_extensions = none",
      "x509_extensions = cert_ext",
      "[policy_any]",
      "organizationName = optional",
      "commonName = supplied",
      "[cert_ext]",
      ...request.extensions,
      "",
    ].join("\n"),
  );
  const csr = `${request.cert}.csr`;
  await openssl(["req", "-new", "-key", request.key, "-subj", request.subject, "-out", csr]);
  await openssl([
    "ca",
    "-batch",
    "-notext",
    "-config",
    conf,
    "-cert",
    ca.cert,
    "-keyfile",
    ca.key,
    "-in",
    csr,
    "-out",
    request.cert,
    "-startdate",
    asn1Time(request.notBefore),
    "-enddate",
    asn1Time(request.notAfter),
  ]);
  await Deno.remove(csr);
  return { cert: request.cert, key: request.key };
}

/** YYYYMMDDHHMMSSZ (GeneralizedTime), which `openssl ca -startdate/-enddate` accepts. */
function asn1Time(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  bytes[0] &= 0x7f;
  return `0x${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
