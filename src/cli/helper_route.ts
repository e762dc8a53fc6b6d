/**
 * Which upstream a `virt-ssh-helper URI` invocation reaches: the routing table is the config's
 * own. The listener that speaks for the helper is the first `[[listen]]` with
 * `route_by_name = true`, else the first one; its `upstream` and (with `route_by_name`) its
 * `allow_upstreams` are the upstreams a client may reach, the default first. Without listeners,
 * every upstream may be reached.
 *
 * The URI libvirt passes the helper is the client's open name (`qemu+ssh://bastion/system` →
 * `qemu:///system`; `...?name=hv2` → `hv2`). It reaches:
 * 1. the allowed upstream with that name; the client's open is renamed to the upstream's own
 *    open name, as `route_by_name` does;
 * 2. else the first allowed upstream whose own open name it is (`qemu:///system` reaches
 *    `qemu+tls://hv1/system`), the open passed on unchanged;
 * 3. else nothing: the client is refused with a message listing what it may open.
 *
 * @module
 */

import type { Config, ListenerConfig, UpstreamConfig } from "../config/schema.ts";

/** Where a helper invocation goes. */
export interface HelperRoute {
  /** The upstream. */
  upstream: UpstreamConfig;
  /** The listener whose limits and policy apply, if the config has listeners. */
  listener?: ListenerConfig;
  /** The open name to send upstream instead of the client's, when routed by name. */
  rename?: string;
}

/** The listener that speaks for virt-ssh-helper mode, if any. */
export function helperListener(config: Config): ListenerConfig | undefined {
  return config.listeners.find((l) => l.routeByName) ?? config.listeners[0];
}

/**
 * Routes `uri` through `config`.
 *
 * @param config the loaded config
 * @param uri the URI argument virt-ssh-helper was given
 * @returns the route, or the message to refuse the client with
 */
export function helperRoute(config: Config, uri: string): HelperRoute | string {
  const listener = helperListener(config);
  const names = listener === undefined
    ? config.upstreams.map((u) => u.name)
    : [listener.upstream, ...(listener.routeByName ? listener.allowUpstreams : [])];
  const allowed = [...new Set(names)]
    .map((name) => config.upstreams.find((u) => u.name === name))
    .filter((u) => u !== undefined);
  const byName = allowed.find((u) => u.name === uri);
  if (byName !== undefined) return { upstream: byName, listener, rename: byName.uri.openName };
  const byOpenName = allowed.find((u) => u.uri.openName === uri);
  if (byOpenName !== undefined) return { upstream: byOpenName, listener };
  const choices = allowed.map((u) => `"${u.name}" (?name=${u.name}) or "${u.uri.openName}"`);
  return `virtmux (virt-ssh-helper) has no route for "${uri}" in config "${config.file}": ` +
    (choices.length === 0 ? "it has no upstreams" : `open one of ${choices.join(", ")}`);
}
