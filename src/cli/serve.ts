/**
 * `virtmux serve`.
 *
 * @module
 */

import { ConfigError, loadConfig } from "../config/load.ts";
import { type AuditConfig, type Config, controlSocketPath } from "../config/schema.ts";
import { ControlServer } from "../control/server.ts";
import { errorMessage } from "../log/error_message.ts";
import { rootLogger } from "../log/logger.ts";
import { serveMetrics } from "../metrics/http_server.ts";
import { ProxyMetrics } from "../metrics/proxy_metrics.ts";
import { composeObservers } from "../proxy/observer_composite.ts";
import { Server } from "../proxy/server.ts";
import { openAudit } from "./audit_tap.ts";
import { listenerSpecs } from "./specs.ts";
import denoJson from "../../deno.json" with { type: "json" };

/**
 * Runs the proxy until SIGTERM or SIGINT; resolves to the exit status. SIGHUP reloads the
 * config: a valid one applies to new clients, an invalid one is logged and the old one stays.
 * `[audit]` is read at start only; the log is closed (and sealed) after the drain.
 */
export async function serve(configPath: string): Promise<number> {
  const config = await loadConfig(configPath);
  rootLogger.configure(config.log.level, config.log.format);
  // Listened for before the sockets appear: a SIGTERM right after start must drain, not kill.
  const stopSignal = new Promise<Deno.Signal>((resolve) => {
    for (const name of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(name, () => resolve(name));
    }
  });
  const metrics = wantsMetrics(config)
    ? new ProxyMetrics({ version: denoJson.version })
    : undefined;
  const audit = await openAudit(config.audit, rootLogger);
  const server = new Server({
    listeners: listenerSpecs(config),
    maxClients: config.limits.maxClients,
    logger: rootLogger,
    shutdownGraceMs: config.limits.shutdownGraceMs,
    observers: composeObservers([metrics, audit?.observers]),
    counters: metrics,
    peerCredentials: audit !== undefined,
  });
  metrics?.watch(() => server.snapshot());
  try {
    await server.start();
  } catch (error) {
    await audit?.close();
    throw error;
  }
  if (audit !== undefined) rootLogger.info("Audit log open", { path: config.audit.path });
  const extras = await startExtras(config, server, metrics);
  rootLogger.info("virtmux started", { config: configPath, pid: Deno.pid });
  let reloading = Promise.resolve();
  Deno.addSignalListener("SIGHUP", () => {
    reloading = reloading.then(() => reload(server, configPath, config.audit));
  });
  const signal = await stopSignal;
  rootLogger.info("Signal received, draining", { signal });
  await reloading;
  await extras.control?.close();
  await server.shutdown();
  await extras.metrics?.close();
  await audit?.close();
  rootLogger.info("virtmux stopped");
  return 0;
}

/**
 * Loads the config again and applies it, or logs why not and keeps the old one. `[audit]` stays
 * as it was at start (`audit`): a change is logged, not applied.
 */
async function reload(server: Server, configPath: string, audit: AuditConfig): Promise<void> {
  let config;
  try {
    config = await loadConfig(configPath);
  } catch (error) {
    const problems = error instanceof ConfigError ? error.message.split("\n") : [String(error)];
    for (const problem of problems) rootLogger.error("Config reload rejected", { problem });
    rootLogger.error("Keeping the previous config", { config: configPath });
    return;
  }
  rootLogger.configure(config.log.level, config.log.format);
  if (JSON.stringify(config.audit) !== JSON.stringify(audit)) {
    rootLogger.warning("Config reload: [audit] changes apply after a restart", {
      config: configPath,
    });
  }
  const problems = await server.reload(listenerSpecs(config), config.limits.maxClients);
  for (const problem of problems) rootLogger.error("Config reload problem", { problem });
  rootLogger.info("Config reloaded", {
    config: configPath,
    listeners: server.sockets.length,
    problems: problems.length,
  });
}

/**
 * Whether sessions are metered: for `/metrics`, and for the calls column of `virtmux clients`
 * when the control socket is on.
 */
function wantsMetrics(config: Config): boolean {
  return config.metrics.listen !== "" || controlOf(config) !== undefined;
}

/** Starts the metrics endpoint and the control socket the config asks for. */
async function startExtras(
  config: Config,
  server: Server,
  metrics: ProxyMetrics | undefined,
): Promise<{ metrics?: { close(): Promise<void> }; control?: ControlServer }> {
  const started: { metrics?: { close(): Promise<void> }; control?: ControlServer } = {};
  try {
    if (metrics !== undefined && config.metrics.listen !== "") {
      started.metrics = serveMetrics(config.metrics.listen, {
        render: () => metrics.render(),
        logger: rootLogger,
      });
    }
    const socket = controlOf(config);
    if (socket !== undefined) {
      const listening = ControlServer.listen(socket, {
        logger: rootLogger,
        target: {
          snapshot: () => server.snapshot(),
          disconnect: (id, reason) => server.disconnect(id, reason),
          callsOf: (id) => metrics?.callsOf(id),
        },
      });
      if (config.control.socket !== "auto") started.control = await listening;
      else {
        // The default path: another virtmux serving the same directory keeps it; go on without.
        started.control = await listening.catch((error) => {
          rootLogger.warning("No control socket", { error: errorMessage(error) });
          return undefined;
        });
      }
    }
  } catch (error) {
    await started.metrics?.close();
    await server.shutdown();
    throw error;
  }
  return started;
}

function controlOf(config: Config): string | undefined {
  return controlSocketPath(config.control, config.listeners.map((l) => l.socket));
}
