/**
 * `virtmux aliases`: the `uri_aliases` lines for libvirt.conf that let `virsh -c hv1` reach
 * upstream "hv1" through its virtmux socket.
 *
 * @module
 */

import type { Config, ListenerConfig, UpstreamConfig } from "../config/schema.ts";

/** One alias: its name and the URI it stands for. */
export interface UriAlias {
  /** The alias, the upstream's name. */
  name: string;
  /** A libvirt URI reaching the upstream through a virtmux socket. */
  uri: string;
}

/**
 * The URI a client uses to reach `upstream` through `listener`: the upstream's own open name (so
 * the client opens what the upstream expects), over unix, with the listener's socket; through a
 * routing listener, `name=` selects the upstream.
 */
export function aliasUri(
  upstream: UpstreamConfig,
  listener: ListenerConfig,
  routed: boolean,
): string {
  const openName = upstream.uri.openName || "remote:///";
  const at = openName.indexOf("://");
  const driver = at > 0 ? openName.slice(0, at) : "remote";
  let rest = at > 0 ? openName.slice(at + 3) : "/";
  if (!rest.startsWith("/")) rest = "/" + rest; // the alias is local: no host part
  const socket = `socket=${encodeURI(listener.socket)}`;
  const query = routed ? `${socket}&name=${encodeURIComponent(upstream.name)}` : socket;
  return `${driver}+unix://${rest}${rest.includes("?") ? "&" : "?"}${query}`;
}

/** An alias per upstream, through the first listener that reaches it (read-write first). */
export function uriAliases(config: Config): UriAlias[] {
  const aliases: UriAlias[] = [];
  const listeners = config.listeners.filter((l) => l.front === undefined) // unix sockets only
    .sort((a, b) => Number(a.readonly) - Number(b.readonly));
  for (const upstream of config.upstreams) {
    const direct = listeners.find((l) => l.upstream === upstream.name);
    const routing = listeners.find((l) =>
      l.routeByName && l.allowUpstreams.includes(upstream.name)
    );
    const listener = direct ?? routing;
    if (listener === undefined) continue;
    aliases.push({
      name: upstream.name,
      uri: aliasUri(upstream, listener, direct === undefined),
    });
  }
  return aliases;
}

/** The libvirt.conf text for `aliases`. */
export function formatAliases(aliases: UriAlias[]): string {
  if (aliases.length === 0) return "# no upstream is reachable through a [[listen]] socket";
  return [
    "# Add to libvirt.conf ($XDG_CONFIG_HOME/libvirt/libvirt.conf, or /etc/libvirt/libvirt.conf",
    "# for root); then `virsh -c NAME` reaches that upstream through virtmux.",
    "uri_aliases = [",
    ...aliases.map((alias) => `  "${alias.name}=${alias.uri}",`),
    "]",
  ].join("\n");
}
