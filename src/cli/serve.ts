/**
 * `virtmux serve`.
 *
 * @module
 */

import { ConfigError, loadConfig } from "../config/load.ts";
import type { AuditConfig } from "../config/schema.ts";
import { rootLogger } from "../log/logger.ts";
import { Server } from "../proxy/server.ts";
import { openAudit } from "./audit_tap.ts";
import { listenerSpecs } from "./specs.ts";

/**
 * Runs the proxy until SIGTERM or SIGINT; resolves to the exit status. SIGHUP reloads the
 * config: a valid one applies to new clients, an invalid one is logged and the old one stays.
 * `[audit]` is read at start only; the log is closed (and sealed) after the drain.
 */
export async function serve(configPath: string): Promise<number> {
  const config = await loadConfig(configPath);
  rootLogger.configure(config.log.level, config.log.format);
  const audit = await openAudit(config.audit, rootLogger);
  const server = new Server({
    listeners: listenerSpecs(config),
    maxClients: config.limits.maxClients,
    logger: rootLogger,
    shutdownGraceMs: config.limits.shutdownGraceMs,
    observers: audit?.observers,
    peerCredentials: audit !== undefined,
  });
  try {
    await server.start();
  } catch (error) {
    await audit?.close();
    throw error;
  }
  if (audit !== undefined) rootLogger.info("Audit log open", { path: config.audit.path });
  rootLogger.info("virtmux started", { config: configPath, pid: Deno.pid });
  let reloading = Promise.resolve();
  Deno.addSignalListener("SIGHUP", () => {
    reloading = reloading.then(() => reload(server, configPath, config.audit));
  });
  const signal = await new Promise<Deno.Signal>((resolve) => {
    for (const name of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(name, () => resolve(name));
    }
  });
  rootLogger.info("Signal received, draining", { signal });
  await reloading;
  await server.shutdown();
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
