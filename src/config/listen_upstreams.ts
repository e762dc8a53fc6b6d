/**
 * The upstreams a `[[listen]]` reaches: the readers of its `upstream` and `allow_upstreams` keys
 * (names checked against the `[[upstream]]` tables, with a suggestion for a typo), and the
 * checks that make `route_by_name` work. listen_section.ts declares the keys in its field table
 * and calls these.
 *
 * @module
 */

import { type Checker, closest, quote, type Section, stringArray } from "./_fields.ts";
import { stringValue } from "./_section.ts";
import type { KeyPath } from "./locate.ts";
import type { CheckedUpstream } from "./upstream_section.ts";

/** What the readers of this file need: the valid upstream names. */
export interface UpstreamNames {
  /** Names of the upstreams defined, valid and unique ones only. */
  names: string[];
}

/** The listener's upstream; when absent, the only upstream there is. */
export function readUpstream(
  checker: Checker,
  section: Section,
  key: string,
  { names }: UpstreamNames,
): string | undefined {
  if (!Object.hasOwn(section.table, key)) {
    if (names.length === 1) return names[0];
    checker.report(
      section.path,
      names.length === 0
        ? `missing required key "upstream" in [[listen]], and no [[upstream]] is defined`
        : `missing required key "upstream" in [[listen]]: there are ${names.length} ` +
          `upstreams (${names.map(quote).join(", ")})`,
    );
    return undefined;
  }
  const upstream = stringValue(checker, section, key, undefined);
  if (upstream !== undefined) checkUpstreamName(checker, [...section.path, key], upstream, names);
  return upstream;
}

/** `allow_upstreams`: names of upstreams, each one that is defined. */
export function readAllowUpstreams(
  checker: Checker,
  section: Section,
  key: string,
  { names }: UpstreamNames,
): string[] | undefined {
  const allowUpstreams = stringArray(checker, section, key);
  const allowed = section.table[key];
  for (const [index, name] of (Array.isArray(allowed) ? allowed : []).entries()) {
    if (typeof name !== "string") continue;
    checkUpstreamName(checker, [...section.path, key, index], name, names);
  }
  return allowUpstreams;
}

function checkUpstreamName(checker: Checker, path: KeyPath, name: string, names: string[]): void {
  if (names.includes(name)) return;
  if (names.length === 0) {
    checker.report(path, `unknown upstream ${quote(name)}: no [[upstream]] is defined`);
    return;
  }
  const suggestion = closest(name, names);
  checker.report(
    path,
    suggestion !== undefined
      ? `unknown upstream ${quote(name)}; did you mean ${quote(suggestion)}?`
      : `unknown upstream ${quote(name)}; defined upstreams: ${names.map(quote).join(", ")}`,
  );
}

/**
 * `route_by_name` works on shared pools only: the proxy must answer the handshake itself to
 * learn the name before it picks an upstream. So the listener's upstream and every upstream it
 * may route to must have `share = true`, and there must be some to route to.
 *
 * @param listener The listener's `upstream` and `allow_upstreams`, as read.
 */
export function checkRouting(
  checker: Checker,
  section: Section,
  listener: { upstream: string; allowUpstreams: string[] },
  upstreams: CheckedUpstream[],
): void {
  const shared = (name: string) => upstreams.find((u) => u.config.name === name)?.config.share;
  if (listener.allowUpstreams.length === 0) {
    checker.report(
      [...section.path, "route_by_name"],
      `"route_by_name" needs "allow_upstreams": the upstreams a client may pick by name`,
    );
  }
  if (shared(listener.upstream) === false) {
    checker.report(
      [...section.path, "route_by_name"],
      `"route_by_name" needs share = true on upstream ${quote(listener.upstream)}: only a ` +
        `shared pool answers the handshake itself and so learns the name before connecting`,
    );
  }
  listener.allowUpstreams.forEach((name, index) => {
    if (shared(name) === false) {
      checker.report(
        [...section.path, "allow_upstreams", index],
        `upstream ${quote(name)} needs share = true to be picked by "route_by_name"`,
      );
    }
  });
}
