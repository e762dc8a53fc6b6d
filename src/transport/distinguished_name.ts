/**
 * A certificate's subject as libvirt prints and matches it: the text of GnuTLS's
 * `gnutls_x509_crt_get_dn`, which libvirtd checks against `tls_allowed_dn_list` and which
 * `virt-pki-query-dn` shows (src/rpc/virnettlscontext.c). That is the certificate's own RDN order
 * (`C=GB,ST=London,O=Example,CN=alice`, the reverse of RFC 4514), GnuTLS's attribute names
 * (`EMAIL`, `surName`, `givenName` ...), the values of a multi-valued RDN joined by `+`, `,+"\<>;`
 * escaped with a backslash, as are a leading `#` or space and a trailing space; values of unknown
 * attributes, or of a type GnuTLS does not expect, as `#` and the hex of their DER encoding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeDnValue } from "./distinguished_name.ts";
 *
 * assert.equal(escapeDnValue("Red Hat, Inc."), "Red Hat\\, Inc.");
 * ```
 *
 * @module
 */

import { decodeOid, type DerElement, readChildren, Tag, toHex } from "./der.ts";

/** How GnuTLS reads an attribute's value: any DirectoryString choice, or one fixed type. */
type ValueKind = "directory" | number;

/** GnuTLS's attribute names and value types (lib/x509/common.c `_oid2str`). */
const ATTRIBUTES: ReadonlyMap<string, readonly [string, ValueKind]> = new Map([
  ["1.3.6.1.5.5.7.9.1", ["dateOfBirth", Tag.GENERALIZED_TIME]],
  ["1.3.6.1.5.5.7.9.2", ["placeOfBirth", "directory"]],
  ["1.3.6.1.5.5.7.9.3", ["gender", Tag.PRINTABLE_STRING]],
  ["1.3.6.1.5.5.7.9.4", ["countryOfCitizenship", Tag.PRINTABLE_STRING]],
  ["1.3.6.1.5.5.7.9.5", ["countryOfResidence", Tag.PRINTABLE_STRING]],
  ["2.5.4.6", ["C", Tag.PRINTABLE_STRING]],
  ["2.5.4.9", ["street", "directory"]],
  ["2.5.4.12", ["title", "directory"]],
  ["2.5.4.10", ["O", "directory"]],
  ["2.5.4.11", ["OU", "directory"]],
  ["2.5.4.3", ["CN", "directory"]],
  ["2.5.4.7", ["L", "directory"]],
  ["2.5.4.8", ["ST", "directory"]],
  ["2.5.4.13", ["description", "directory"]],
  ["2.5.4.5", ["serialNumber", Tag.PRINTABLE_STRING]],
  ["2.5.4.20", ["telephoneNumber", Tag.PRINTABLE_STRING]],
  ["2.5.4.4", ["surName", "directory"]],
  ["2.5.4.43", ["initials", "directory"]],
  ["2.5.4.44", ["generationQualifier", "directory"]],
  ["2.5.4.42", ["givenName", "directory"]],
  ["2.5.4.65", ["pseudonym", "directory"]],
  ["2.5.4.46", ["dnQualifier", Tag.PRINTABLE_STRING]],
  ["2.5.4.17", ["postalCode", "directory"]],
  ["2.5.4.41", ["name", "directory"]],
  ["2.5.4.15", ["businessCategory", "directory"]],
  ["0.9.2342.19200300.100.1.25", ["DC", Tag.IA5_STRING]],
  ["0.9.2342.19200300.100.1.1", ["UID", "directory"]],
  ["1.2.840.113556.1.4.656", ["userPrincipalName", "directory"]],
  ["1.3.6.1.4.1.311.60.2.1.1", ["jurisdictionOfIncorporationLocalityName", "directory"]],
  ["1.3.6.1.4.1.311.60.2.1.2", ["jurisdictionOfIncorporationStateOrProvinceName", "directory"]],
  ["1.3.6.1.4.1.311.60.2.1.3", ["jurisdictionOfIncorporationCountryName", Tag.PRINTABLE_STRING]],
  ["1.2.840.113549.1.9.1", ["EMAIL", Tag.IA5_STRING]],
  ["1.3.6.1.5.5.7.8.5", ["XmppAddr", Tag.UTF8_STRING]],
]);

/** The string types a DirectoryString may hold that GnuTLS turns into text. */
const DIRECTORY_TAGS: ReadonlySet<number> = new Set([
  Tag.UTF8_STRING,
  Tag.PRINTABLE_STRING,
  Tag.TELETEX_STRING,
  Tag.BMP_STRING,
]);

const utf8 = new TextDecoder();

/**
 * The subject of a DER certificate as libvirt formats it.
 *
 * @param certificate the certificate, DER-encoded
 * @throws {RangeError} when the certificate cannot be parsed or a value holds a NUL (GnuTLS
 * refuses those too)
 */
export function certificateSubjectDn(certificate: Uint8Array): string {
  const [tbs] = readChildren(certificate);
  const fields = readChildren(tbs);
  // tbsCertificate: [0] version (optional), serial, signature, issuer, validity, subject, ...
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[first + 4];
  if (subject === undefined || subject.tag !== Tag.SEQUENCE) {
    throw new RangeError("the certificate has no subject name");
  }
  return formatName(subject);
}

/** A DER `Name` (a SEQUENCE of RDNs) formatted as libvirt formats a subject. */
export function formatName(name: DerElement): string {
  return readChildren(name).map((rdn) =>
    readChildren(rdn).map((pair) => {
      const [type, value] = readChildren(pair);
      const oid = decodeOid(type.value);
      const known = ATTRIBUTES.get(oid);
      const text = known === undefined ? undefined : valueText(value, known[1]);
      return `${known?.[0] ?? oid}=${text ?? `#${toHex(value.encoded)}`}`;
    }).join("+")
  ).join(",");
}

/** An attribute value as text, or undefined where GnuTLS shows hex instead. */
function valueText(value: DerElement, kind: ValueKind): string | undefined {
  if (kind !== "directory" && value.tag !== kind) return undefined;
  if (kind === "directory" && !DIRECTORY_TAGS.has(value.tag)) return undefined;
  let text: string;
  switch (value.tag) {
    case Tag.BMP_STRING: {
      const units: number[] = [];
      for (let i = 0; i + 1 < value.value.length; i += 2) {
        units.push((value.value[i] << 8) | value.value[i + 1]);
      }
      text = String.fromCharCode(...units);
      break;
    }
    case Tag.TELETEX_STRING:
      // GnuTLS reads a T61String only when it is plain ASCII.
      if (value.value.some((byte) => byte > 0x7f)) return undefined;
      text = utf8.decode(value.value);
      break;
    default:
      text = utf8.decode(value.value);
  }
  if (text.includes("\0")) throw new RangeError("a name value holds a NUL character");
  return escapeDnValue(text);
}

/** A value escaped as GnuTLS escapes it (its `str_escape`). */
export function escapeDnValue(text: string): string {
  let escaped = "";
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    const special = ',+"\\<>;'.includes(char) ||
      (i === 0 && (char === "#" || char === " ")) ||
      (i === text.length - 1 && char === " ");
    escaped += special ? `\\${char}` : char;
  }
  return escaped;
}

/** Every `label` block of a PEM text (`CERTIFICATE`, `X509 CRL`), DER-encoded, in order. */
export function pemBlocks(pem: string, label: string): Uint8Array[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, "g");
  return [...pem.matchAll(pattern)].map((match) => {
    const binary = atob(match[1].replace(/\s+/g, ""));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  });
}
