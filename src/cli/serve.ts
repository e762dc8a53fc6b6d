/**
 * `virtmux serve`.
 *
 * @module
 */

import { loadConfig } from "../config/load.ts";
import { rootLogger } from "../log/logger.ts";
import { Server } from "../proxy/server.ts";
import { listenerSpecs } from "./specs.ts";

/** Runs the proxy until SIGTERM or SIGINT; resolves to the exit status. */
export async function serve(configPath: string): Promise<number> {
  const config = await loadConfig(configPath);
  rootLogger.configure(config.log.level, config.log.format);
  const server = new Server({
    listeners: listenerSpecs(config),
    maxClients: config.limits.maxClients,
    logger: rootLogger,
    shutdownGraceMs: config.limits.shutdownGraceMs,
  });
  await server.start();
  rootLogger.info("virtmux started", { config: configPath, pid: Deno.pid });
  const signal = await new Promise<Deno.Signal>((resolve) => {
    for (const name of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(name, () => resolve(name));
    }
  });
  rootLogger.info("Signal received, draining", { signal });
  await server.shutdown();
  rootLogger.info("virtmux stopped");
  return 0;
}
