/**
 * What a shared pool does when one of its connections ends: every call outstanding on it is
 * answered with a libvirt error naming the upstream, then the clients whose state lived there
 * (streams, event registrations) are closed, as they would see their own daemon go; when a
 * failure took the pool's last connection, every client is. Surviving restarts, clients stay
 * instead ({@linkcode RestartSurvival.lost} ends their streams with the error).
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { encodeErrorReply } from "../../wire/error_reply.ts";
import type { Header } from "../../wire/header.ts";
import type { PoolCounters } from "../counters.ts";
import type { EventFanout } from "./event_fanout.ts";
import { type PendingCalls, pendingHeader } from "./pending_calls.ts";
import type { PoolClient } from "./pool_client.ts";
import type { RestartSurvival } from "./restart_survival.ts";
import type { ConnectionScheduler } from "./scheduler.ts";
import type { StreamRoutes } from "./stream_routes.ts";
import type { UpstreamConnection } from "./upstream_connection.ts";

/** The parts of a pool a connection's end touches. */
export interface PoolParts {
  /** `"hv1" (qemu+tls://...)`, for messages. */
  label: string;
  /** Clients attached: only these are answered and closed. */
  clients: ReadonlySet<PoolClient>;
  /** Calls outstanding, by connection. */
  pending: PendingCalls;
  /** Streams, by connection. */
  streams: StreamRoutes;
  /** Event registrations, by connection. */
  events: EventFanout;
  /** Connection scheduling: told of the loss once the calls are answered. */
  scheduler: ConnectionScheduler;
  /** Restart survival, when it is on. */
  survival: RestartSurvival | undefined;
  /** Logger with the pool's context. */
  logger: Logger;
  /** Counts connections lost; undefined: nothing counted. */
  counters?: PoolCounters;
}

/** `connection` of the pool made of `parts` ended for `reason`: answer and close as above. */
export function connectionLost(
  parts: PoolParts,
  connection: UpstreamConnection,
  reason: string,
): void {
  const { scheduler, clients } = parts;
  const retired = scheduler.retired(connection);
  const surviving = parts.survival !== undefined && !retired;
  if (!retired) parts.counters?.upstreamLost();
  const pending = parts.pending.lost(connection);
  const message = `Upstream ${parts.label} ${reason}`;
  const affected = new Set<PoolClient>();
  const answers: Promise<void>[] = [];
  const answer = (client: PoolClient, header: Header, type?: number) => {
    if (!clients.has(client)) return;
    if (!surviving) affected.add(client);
    const answered = client.deliver(encodeErrorReply(header, message, { type }));
    if (answered !== undefined) answers.push(answered.catch(() => {}));
  };
  for (const call of pending?.values() ?? []) {
    if (call.client !== undefined) answer(call.client, pendingHeader(call, call.clientSerial));
    for (const waiter of call.registration?.waiting ?? []) {
      answer(waiter.client, pendingHeader(call, waiter.serial));
    }
  }
  if (surviving) parts.survival!.lost(connection, reason, pending?.size ?? 0, answer);
  // Counted after the calls are answered, so that a reopen cannot race their answers.
  scheduler.lost(connection);
  if (pending === undefined || surviving) return;
  for (const client of parts.streams.connectionLost(connection)) affected.add(client);
  for (const client of parts.events.registrations.connectionLost(connection)) {
    affected.add(client);
  }
  if (!retired && scheduler.size === 0) {
    // The pool lost its last connection to a failure: every client sees the daemon go, as it
    // would on its own connection (its close callback fires), not just those with state there.
    for (const client of clients) affected.add(client);
  }
  if (pending.size > 0 || affected.size > 0) {
    parts.logger.warning("Upstream connection lost", {
      connection: connection.id,
      reason,
      calls: pending.size,
      clients: affected.size,
    });
  }
  // Clients whose state lived on the connection see it die, as they would a daemon.
  void Promise.all(answers).then(() => {
    for (const client of affected) client.lost(message);
  });
}
