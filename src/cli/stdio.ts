/**
 * `virtmux stdio`, and the bare invocation libvirt's ext transport makes: one client on
 * stdin/stdout, relayed to one upstream.
 *
 * @module
 */

import { DEFAULT_CONFIG_PATH } from "../config/config_path.ts";
import { type Config, DEFAULTS, defaultSaslMode, type SaslMode } from "../config/schema.ts";
import { stdioIdentity } from "../audit/identity.ts";
import { rootLogger } from "../log/logger.ts";
import { loginOrClose } from "../proxy/dedicated/login.ts";
import { DedicatedSession } from "../proxy/dedicated/session.ts";
import { dial } from "../transport/dial.ts";
import { stdioChannel } from "../transport/stdio.ts";
import { type LibvirtUri, parseUri } from "../uri/uri.ts";
import { openAudit } from "./audit_tap.ts";

/** Options for {@linkcode stdio}. */
export interface StdioOptions {
  /** The loaded config, if there is one. */
  config?: Config;
  /** An explicit upstream URI. */
  uri?: string;
}

/** Serves stdin/stdout until either side closes; resolves to the exit status. */
export async function stdio(options: StdioOptions): Promise<number> {
  const config = options.config;
  rootLogger.configure(config?.log.level ?? "warning", config?.log.format ?? "text");
  let name: string;
  let uri: LibvirtUri;
  let sasl: SaslMode;
  if (options.uri !== undefined) {
    name = "stdio";
    uri = parseUri(options.uri);
    sasl = defaultSaslMode(false, uri);
  } else {
    if (config === undefined) {
      throw new Error(
        `No upstream: give a URI ("virtmux stdio qemu+tls://host/system") or a config file ` +
          `(--config, $VIRTMUX_CONFIG or ${DEFAULT_CONFIG_PATH})`,
      );
    }
    const wanted = Deno.env.get("VIRTMUX_UPSTREAM");
    const upstream = wanted === undefined
      ? config.upstreams[0]
      : config.upstreams.find((u) => u.name === wanted);
    if (upstream === undefined) {
      throw new Error(
        wanted === undefined
          ? `Config "${config.file}" defines no [[upstream]]`
          : `Config "${config.file}" has no upstream named "${wanted}" ($VIRTMUX_UPSTREAM)`,
      );
    }
    name = upstream.name;
    uri = upstream.uri;
    sasl = upstream.sasl;
  }
  const log = rootLogger.child({ client: "stdio", upstream: name });
  // Each stdio process appends to the shared log under its lock (src/audit/log/).
  const audit = config === undefined
    ? undefined
    : await openAudit(config.audit, log, { flushDelayMs: 0 });
  const observer = audit?.observers.observe(stdioIdentity(), {
    name,
    uri: uri.text,
    shared: false,
  });
  const timeoutMs = config?.limits.connectTimeoutMs ?? DEFAULTS.limits.connectTimeoutMs;
  const dialed = dial(uri, { name, timeoutMs, logger: log });
  const session = new DedicatedSession(
    stdioChannel(),
    sasl === "proxy"
      ? dialed.then((channel) => loginOrClose(channel, { name, uri, timeoutMs, logger: log }))
      : dialed,
    {
      logger: log,
      upstreamLabel: `"${name}" (${uri.text})`,
      maxFrameBytes: config?.limits.maxMessageBytes ?? DEFAULTS.limits.maxMessageBytes,
      maxInflight: config?.limits.maxInflightPerClient ?? DEFAULTS.limits.maxInflightPerClient,
      observer,
    },
  );
  // libvirt ends an ext transport command with SIGTERM, then SIGKILL 10 ms later
  // (virProcessAbort): with audit on, end the session at once so its last records get written.
  const stops = (audit === undefined ? [] : (["SIGTERM", "SIGINT", "SIGHUP"] as const))
    .map((signal) => [signal, () => session.close(`received ${signal}`)] as const);
  for (const [signal, stop] of stops) Deno.addSignalListener(signal, stop);
  try {
    await session.run();
  } finally {
    await audit?.close();
    for (const [signal, stop] of stops) Deno.removeSignalListener(signal, stop);
  }
  // The client saw the reason in its error reply; the exit status tells a shell (ssh bastion ...).
  return session.connected ? 0 : 1;
}
