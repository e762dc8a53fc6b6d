/**
 * Certificate revocation lists for the TLS front, as libvirtd's `crl_file`: PEM `X509 CRL` blocks,
 * each signed by a certificate of the CA file. Deno's TLS server takes a `crl` option but does not
 * use it, so the front checks each client certificate's issuer and serial number here, after the
 * handshake and before the confirmation byte.
 *
 * @module
 */

import { verify, X509Certificate } from "node:crypto";
import { decodeOid, type DerElement, integerHex, readChildren, Tag, toHex } from "./der.ts";
import { pemBlocks } from "./distinguished_name.ts";

/** Signature algorithms by OID, as node:crypto's `verify` names their digest. */
const SIGNATURE_DIGESTS: ReadonlyMap<string, string | null> = new Map([
  ["1.2.840.113549.1.1.5", "sha1"],
  ["1.2.840.113549.1.1.11", "sha256"],
  ["1.2.840.113549.1.1.12", "sha384"],
  ["1.2.840.113549.1.1.13", "sha512"],
  ["1.2.840.10045.4.3.2", "sha256"],
  ["1.2.840.10045.4.3.3", "sha384"],
  ["1.2.840.10045.4.3.4", "sha512"],
  ["1.3.101.112", null],
]);

/** The revoked certificates of one or more CRLs, by issuer and serial number. */
export class RevocationList {
  readonly #revoked: ReadonlySet<string>;

  /** A list holding the given `issuerHex/serialHex` keys. */
  constructor(revoked: ReadonlySet<string>) {
    this.#revoked = revoked;
  }

  /** How many certificates are revoked. */
  get size(): number {
    return this.#revoked.size;
  }

  /** Whether the DER certificate `certificate` is revoked. */
  revokes(certificate: Uint8Array): boolean {
    const { issuer, serial } = certificateIds(certificate);
    return this.#revoked.has(`${issuer}/${serial}`);
  }
}

/**
 * Reads the CRLs in `crlPem` and checks each one's signature against the certificates of
 * `caPem`.
 *
 * @param crlPem the CRL file's text
 * @param caPem the CA file's text
 * @param file the CRL file's name, for messages
 * @throws {Error} naming the file when it holds no CRL, a CRL cannot be parsed, or its signature
 * does not verify against any CA certificate
 */
export function parseRevocationList(crlPem: string, caPem: string, file: string): RevocationList {
  const blocks = pemBlocks(crlPem, "X509 CRL");
  if (blocks.length === 0) throw new Error(`Cannot read CRL "${file}": no "X509 CRL" block in it`);
  const cas = pemBlocks(caPem, "CERTIFICATE").map((der) => ({
    der,
    subject: toHex(subjectOf(der).encoded),
    key: new X509Certificate(der).publicKey,
  }));
  const revoked = new Set<string>();
  for (const [index, block] of blocks.entries()) {
    const what = `CRL ${index + 1} of "${file}"`;
    let tbs: DerElement, algorithm: DerElement, signature: DerElement;
    let fields: DerElement[];
    try {
      [tbs, algorithm, signature] = readChildren(block);
      fields = readChildren(tbs);
    } catch (error) {
      throw new Error(`Cannot read ${what}: ${(error as Error).message}`);
    }
    // TBSCertList: version (optional INTEGER), signature, issuer, thisUpdate, nextUpdate?,
    // revokedCertificates?, [0] extensions?
    const first = fields[0]?.tag === Tag.INTEGER ? 1 : 0;
    const issuer = toHex(fields[first + 1].encoded);
    const digest = SIGNATURE_DIGESTS.get(decodeOid(readChildren(algorithm)[0].value));
    if (digest === undefined) {
      throw new Error(`Cannot verify ${what}: its signature algorithm is not supported`);
    }
    const signed = signature.value.subarray(1); // a BIT STRING: unused-bits count first
    const signers = cas.filter((ca) => ca.subject === issuer);
    if (!signers.some((ca) => verify(digest, tbs.encoded, ca.key, signed))) {
      throw new Error(
        `Cannot use ${what}: its signature does not verify against any certificate of the CA ` +
          "file (a CRL from another CA?)",
      );
    }
    for (const field of fields.slice(first + 3)) {
      if (field.tag !== Tag.SEQUENCE) continue; // nextUpdate is a time; extensions are [0]
      for (const entry of readChildren(field)) {
        revoked.add(`${issuer}/${integerHex(readChildren(entry)[0].value)}`);
      }
    }
  }
  return new RevocationList(revoked);
}

/** A DER certificate's issuer (hex of its DER Name) and serial number (hex). */
function certificateIds(certificate: Uint8Array): { issuer: string; serial: string } {
  const fields = readChildren(readChildren(certificate)[0]);
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  return { serial: integerHex(fields[first].value), issuer: toHex(fields[first + 2].encoded) };
}

function subjectOf(certificate: Uint8Array): DerElement {
  const fields = readChildren(readChildren(certificate)[0]);
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  return fields[first + 4];
}
