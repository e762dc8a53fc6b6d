/**
 * virtmux's layers. Each folder uses only the folders listed before it; `deno task check` fails
 * on an import circle.
 *
 * - `log/`: structured logging to stderr, and how errors become text
 * - `wire/`: frames, the 28-byte header, frame checks, error replies, protocol constants and the
 *   procedure and event tables generated from libvirt's .x files; pure `Uint8Array` code
 * - `uri/`: libvirt URIs, their defaults, and the open name, sockets and ssh command they imply
 * - `transport/`: byte channels: dialing upstreams (unix, tcp, tls, ssh, ext), listening sockets,
 *   peer credentials
 * - `proxy/`: client sessions and what they share (`session.ts`, `frame_writer.ts`,
 *   `call_gate.ts`, `policy.ts`); `dedicated/`: one upstream connection per client;
 *   `shared/`: pools (routing core, connection scheduler, streams, event fan-out, registry);
 *   `server.ts`: listeners, admission and the session per client
 * - `metrics/`: Prometheus metrics: per-session frame meters on the proxy's observer hook,
 *   per-upstream counters in typed arrays, the registry, the `/metrics` endpoint
 * - `control/`: the control socket behind `virtmux status`, `clients`, `client-disconnect`
 * - `config/`: the TOML config, validated into types
 * - `cli/`: the subcommands
 *
 * @module
 */

export { runCli } from "./cli/main.ts";
export { Server } from "./proxy/server.ts";
export type { ClientSession } from "./proxy/session.ts";
