/**
 * The wildcards of libvirtd's `tls_allowed_dn_list`: GLib's `g_pattern_match_simple`, which
 * libvirt 9.0 uses (virNetTLSContextCheckCertDNACL): `*` matches any run of characters, the empty
 * one included, `?` exactly one character, and everything else itself. There is no escape and no
 * `[...]` class, and the whole DN must match.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dnMatches } from "./dn_pattern.ts";
 *
 * assert.ok(dnMatches("C=GB,O=Example,CN=*", "C=GB,O=Example,CN=alice"));
 * assert.ok(!dnMatches("C=GB,O=Example,CN=*", "C=GB,O=Other,CN=alice"));
 * ```
 *
 * @module
 */

/** Whether `dn` matches `pattern` as GLib matches it. */
export function dnMatches(pattern: string, dn: string): boolean {
  const p = [...pattern];
  const s = [...dn];
  let pi = 0;
  let si = 0;
  // The last `*` seen and where in `s` it was tried; backtracking moves that start on by one.
  let star = -1;
  let starAt = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === "?" || (p[pi] !== "*" && p[pi] === s[si]))) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === "*") {
      star = pi++;
      starAt = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++starAt;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/** Whether `dn` matches any of `patterns`. */
export function dnMatchesAny(patterns: readonly string[], dn: string): boolean {
  return patterns.some((pattern) => dnMatches(pattern, dn));
}
