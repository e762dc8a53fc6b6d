/**
 * The keys of a `[[listen]]` that is a network front instead of a unix socket: `tls = "ADDR:PORT"`
 * or `tcp = "ADDR:PORT"`, the TLS files and checks with libvirtd.conf's names and defaults, and
 * `allow_dns`, which DNs may reach which upstream. Kept apart from load.ts, which calls
 * {@linkcode checkFront} once per `[[listen]]`.
 *
 * @module
 */

import {
  DEFAULT_TCP_PORT,
  DEFAULT_TLS_PORT,
  formatAddress,
  parseListenAddress,
} from "../transport/network_address.ts";
import {
  boolean,
  type Checker,
  describe,
  quote,
  type Section,
  string,
  stringArray,
} from "./_fields.ts";
import type { KeyPath } from "./locate.ts";
import { fileExists } from "../uri/remote.ts";

/** Keys a `[[listen]]` may have besides those of a socket listener. */
export const FRONT_KEYS: readonly string[] = [
  "tls",
  "tcp",
  "key_file",
  "cert_file",
  "ca_file",
  "crl_file",
  "tls_allowed_dn_list",
  "tls_no_verify_certificate",
  "allow_dns",
];

/** Keys only a TLS front may have. */
const TLS_ONLY_KEYS = FRONT_KEYS.filter((key) => key !== "tls" && key !== "tcp");
/** Keys only a unix socket listener may have. */
const SOCKET_ONLY_KEYS = ["mode", "group", "allow_uids", "allow_gids"];

/** libvirtd's default files, used when none of key_file, cert_file, ca_file is set. */
export const LIBVIRTD_FILES = {
  keyFile: "/etc/pki/libvirt/private/serverkey.pem",
  certFile: "/etc/pki/libvirt/servercert.pem",
  caFile: "/etc/pki/CA/cacert.pem",
  crlFile: "/etc/pki/CA/cacrl.pem",
} as const;

/** The TLS settings of a TLS front. */
export interface FrontTlsConfig {
  /** `key_file`: the server's private key. @default {"/etc/pki/libvirt/private/serverkey.pem"} */
  keyFile: string;
  /** `cert_file`: the server's certificate. @default {"/etc/pki/libvirt/servercert.pem"} */
  certFile: string;
  /** `ca_file`: the CA client certificates must chain to. @default {"/etc/pki/CA/cacert.pem"} */
  caFile: string;
  /**
   * `crl_file`: a revocation list. Default as libvirtd: /etc/pki/CA/cacrl.pem when it exists and
   * none of the three files above is set; none otherwise.
   */
  crlFile?: string;
  /** `tls_allowed_dn_list`: wildcards a client's DN must match; absent, any verified DN. */
  allowedDns?: string[];
  /** `tls_no_verify_certificate`: let clients in without a valid certificate. @default {false} */
  noVerifyCertificate: boolean;
}

/** A network front (`tls = ...` or `tcp = ...` in a `[[listen]]`). */
export interface FrontConfig {
  /** Which front. */
  kind: "tls" | "tcp";
  /** The host to bind: an IPv4 or IPv6 literal (no brackets) or a host name. */
  hostname: string;
  /** The port; 16514 (tls) or 16509 (tcp) when not written. */
  port: number;
  /** The listener's name in logs and messages: `tls://[::]:16514`. */
  label: string;
  /** TLS settings, for a TLS front. */
  tls?: FrontTlsConfig;
  /**
   * `allow_dns`: per upstream name, the DN wildcards that may reach it (TLS fronts). Upstreams
   * not named are open to every client the front admits.
   *
   * @default {{}}
   */
  allowDns: Record<string, string[]>;
}

/** Whether a `[[listen]]` is a network front (it has "tls" or "tcp" and no "socket"). */
export function isFront(section: Section): boolean {
  const has = (key: string) => Object.hasOwn(section.table, key);
  return (has("tls") || has("tcp")) && !has("socket");
}

/**
 * Checks the network keys of one `[[listen]]`: exactly one of socket, tls, tcp; the TLS keys
 * only with tls; the socket keys only with socket.
 *
 * @param upstreams the names `allow_dns` may use (the listener's upstream and allow_upstreams)
 * @param seen addresses of the fronts checked so far, to report a duplicate
 * @returns the front, or undefined for a socket listener (or one with neither key, which the
 * caller reports as a missing "socket")
 */
export function checkFront(
  checker: Checker,
  section: Section,
  upstreams: () => string[],
  seen: Map<string, KeyPath>,
): FrontConfig | undefined {
  const has = (key: string) => Object.hasOwn(section.table, key);
  const kinds = (["socket", "tls", "tcp"] as const).filter(has);
  if (kinds.length > 1) {
    checker.report(
      [...section.path, kinds[1]],
      `a [[listen]] takes exactly one of "socket", "tls" or "tcp", got ${
        kinds.map(quote).join(" and ")
      }`,
    );
  }
  const kind = kinds.find((k) => k !== "socket");
  if (kind === undefined || kinds[0] === "socket") {
    for (const key of TLS_ONLY_KEYS.filter(has)) {
      checker.report(
        [...section.path, key],
        `${quote(key)} applies only to a [[listen]] with "tls"`,
      );
    }
    return undefined;
  }
  for (const key of SOCKET_ONLY_KEYS.filter(has)) {
    checker.report(
      [...section.path, key],
      `${quote(key)} applies only to a [[listen]] with "socket", not to one with ${quote(kind)}`,
    );
  }
  if (kind === "tcp") {
    for (const key of TLS_ONLY_KEYS.filter(has)) {
      checker.report(
        [...section.path, key],
        `${quote(key)} applies only to a [[listen]] with "tls", not to one with "tcp"`,
      );
    }
  }
  const path = [...section.path, kind];
  const text = string(checker, section, kind);
  let hostname = "";
  let port = 0;
  if (text !== undefined) {
    try {
      ({ hostname, port } = parseListenAddress(
        text,
        kind === "tls" ? DEFAULT_TLS_PORT : DEFAULT_TCP_PORT,
      ));
    } catch (error) {
      checker.report(path, `${quote(kind)}: ${(error as Error).message}`);
    }
  }
  const label = `${kind}://${formatAddress(hostname, port)}`;
  if (hostname !== "") {
    const key = `${hostname}:${port}`;
    const first = seen.get(key);
    if (first !== undefined) {
      checker.report(
        path,
        `duplicate listen address ${quote(formatAddress(hostname, port))} (first used at line ${
          checker.lineOf(first)
        })`,
      );
    } else {
      seen.set(key, path);
    }
  }
  const front: FrontConfig = { kind, hostname, port, label, allowDns: {} };
  if (kind === "tls") {
    front.tls = tlsSettings(checker, section);
    front.allowDns = allowDns(checker, section, upstreams());
  }
  return front;
}

function tlsSettings(checker: Checker, section: Section): FrontTlsConfig {
  const file = (key: string) => {
    const value = string(checker, section, key);
    if (value !== undefined && !value.startsWith("/")) {
      checker.report(
        [...section.path, key],
        `${quote(key)} must be an absolute path, got ${quote(value)}`,
      );
    }
    return value;
  };
  const keyFile = file("key_file");
  const certFile = file("cert_file");
  const caFile = file("ca_file");
  const crlFile = file("crl_file");
  const settings: FrontTlsConfig = {
    keyFile: keyFile ?? LIBVIRTD_FILES.keyFile,
    certFile: certFile ?? LIBVIRTD_FILES.certFile,
    caFile: caFile ?? LIBVIRTD_FILES.caFile,
    noVerifyCertificate: boolean(checker, section, "tls_no_verify_certificate") ?? false,
  };
  const defaults = keyFile === undefined && certFile === undefined && caFile === undefined;
  if (crlFile !== undefined) settings.crlFile = crlFile;
  else if (defaults && fileExists(LIBVIRTD_FILES.crlFile)) {
    settings.crlFile = LIBVIRTD_FILES.crlFile;
  }
  const dns = stringArray(checker, section, "tls_allowed_dn_list");
  if (dns !== undefined && dns.length === 0) {
    checker.report(
      [...section.path, "tls_allowed_dn_list"],
      `"tls_allowed_dn_list" is empty and would refuse every client; leave it out to admit ` +
        "every certificate the CA signed",
    );
  }
  if (dns !== undefined) settings.allowedDns = dns;
  return settings;
}

/** `allow_dns = { hv7 = ["O=Example,CN=ops-*"] }`: upstream names to DN wildcards. */
function allowDns(
  checker: Checker,
  section: Section,
  upstreams: string[],
): Record<string, string[]> {
  if (!Object.hasOwn(section.table, "allow_dns")) return {};
  const value = section.table.allow_dns;
  const path = [...section.path, "allow_dns"];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    checker.report(
      path,
      `"allow_dns" must be a table of upstream names to DN wildcards, e.g. ` +
        `{ hv7 = ["O=Example,CN=ops-*"] }, got ${describe(value)}`,
    );
    return {};
  }
  const table = value as Record<string, unknown>;
  const result: Record<string, string[]> = {};
  for (const name of Object.keys(table)) {
    if (!upstreams.includes(name)) {
      checker.report(
        [...path, name],
        `"allow_dns" names ${quote(name)}, which is neither this listener's upstream nor in ` +
          `its allow_upstreams (${upstreams.map(quote).join(", ")})`,
      );
    }
    const patterns = stringArray(checker, { table, path, label: "allow_dns" }, name);
    if (patterns !== undefined) result[name] = patterns;
  }
  return result;
}
