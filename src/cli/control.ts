/**
 * `virtmux status`, `virtmux clients` and `virtmux client-disconnect ID`: ask a running
 * `virtmux serve` through its control socket. The socket is `--socket`, else the `[control]
 * socket` of the config found as `serve` finds it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { findConfigPath, loadConfig } from "../config/load.ts";
import { controlSocketPath } from "../config/schema.ts";
import { controlRequest } from "../control/client.ts";
import { formatClients, formatStatus } from "../control/format.ts";
import type { ControlRequest } from "../control/protocol.ts";

/** Help of the control commands, by command. */
export const CONTROL_USAGE: Readonly<Record<string, string>> = {
  status: `Usage: virtmux status [--config FILE | --socket PATH] [--json]

Shows a running virtmux serve on one screen: listeners with their clients, upstreams with their
connections (opening, idle, busy) and calls in flight, shared pools (clients, connections, queued
calls, streams, event registrations).`,
  clients: `Usage: virtmux clients [--config FILE | --socket PATH] [--json]

Lists the clients of a running virtmux serve: id, listener, peer uid and pid, upstream, since
when, calls made (when counted) and calls in flight. The id is what client-disconnect takes.`,
  "client-disconnect": `Usage: virtmux client-disconnect [--config FILE | --socket PATH] ID

Closes client ID of a running virtmux serve (see virtmux clients). Its outstanding calls get no
reply; the client sees the connection close, as when a daemon goes away.`,
};

/** Lines the control commands write. */
export interface ControlOutput {
  /** Writes a line to stdout. */
  print: (line: string) => void;
  /** Writes a line to stderr. */
  error: (line: string) => void;
}

/** Runs control command `command` with `args`; resolves to the exit status. */
export async function runControl(
  command: "status" | "clients" | "client-disconnect",
  args: string[],
  out: ControlOutput,
): Promise<number> {
  const usage = CONTROL_USAGE[command];
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: "string", short: "c" },
      socket: { type: "string", short: "s" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    out.print(usage);
    return 0;
  }
  const wanted = command === "client-disconnect" ? 1 : 0;
  if (positionals.length !== wanted) {
    out.error(
      `virtmux: ${
        positionals.length > wanted ? `unexpected argument "${positionals[wanted]}"` : "missing ID"
      }\n\n${usage}`,
    );
    return 2;
  }
  let request: ControlRequest;
  if (command === "client-disconnect") {
    const id = Number(positionals[0]);
    if (!Number.isSafeInteger(id) || id < 1) {
      out.error(`virtmux: "${positionals[0]}" is not a client id\n\n${usage}`);
      return 2;
    }
    request = { command, id };
  } else {
    request = { command };
  }
  const socket = values.socket ?? await socketOf(values.config);
  if (socket === undefined) {
    out.error('virtmux: the config turns the control socket off ([control] socket = "")');
    return 1;
  }
  const response = await controlRequest(socket, request);
  if (!response.ok) {
    out.error(`virtmux: ${response.error}`);
    return 1;
  }
  if (values.json) {
    out.print(JSON.stringify(response, null, 2));
    return 0;
  }
  if ("status" in response) out.print(formatStatus(response.status));
  else if ("clients" in response) out.print(formatClients(response.clients));
  else out.print(`Client ${response.disconnected} disconnected`);
  return 0;
}

async function socketOf(configFlag: string | undefined): Promise<string | undefined> {
  const config = await loadConfig(findConfigPath(configFlag));
  return controlSocketPath(config.control, config.listeners.map((l) => l.socket));
}
