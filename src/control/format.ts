/**
 * Text for `virtmux status` and `virtmux clients`: aligned columns, one screen, in the manner of
 * virt-admin's `srv-clients-list`.
 *
 * @module
 */

import type { ClientSnapshot, ServerSnapshot } from "../proxy/server_snapshot.ts";

/** Lays `rows` out in columns under `header`, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("--");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** A time as `YYYY-MM-DD HH:MM:SS` UTC. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

/** A duration in seconds as `3d 4h`, `2h 5m`, `5m 3s` or `12s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** The `virtmux clients` table. */
export function formatClients(clients: ClientSnapshot[]): string {
  return table(
    ["Id", "Listener", "Uid", "Pid", "Upstream", "Since", "Calls", "In flight"],
    clients.map((c) => [
      String(c.id),
      c.listener,
      c.uid === undefined ? "-" : String(c.uid),
      c.pid === undefined ? "-" : String(c.pid),
      c.upstream + (c.shared ? " (shared)" : ""),
      formatTime(c.since),
      c.calls === undefined ? "-" : String(c.calls),
      String(c.inflight),
    ]),
  );
}

/** The `virtmux status` screen, at time `now`. */
export function formatStatus(status: ServerSnapshot, now: number = Date.now()): string {
  const inflight = status.clients.reduce((n, c) => n + c.inflight, 0);
  const parts = [
    `virtmux pid ${status.pid}, up ${formatDuration((now - status.startedAt) / 1000)} ` +
    `(since ${formatTime(status.startedAt)} UTC); ${status.clients.length} clients, ` +
    `${inflight} calls in flight`,
    "",
    table(
      ["Listener", "Upstream", "Mode", "Clients"],
      status.listeners.map((l) => [
        l.socket,
        l.upstream,
        l.readonly ? "read-only" : "read-write",
        String(l.clients),
      ]),
    ),
    "",
    table(
      ["Upstream", "Kind", "Opening", "Idle", "Busy", "In flight", "URI"],
      status.upstreams.map((u) => [
        u.name,
        u.shared ? "shared" : "dedicated",
        String(u.opening),
        String(u.idle),
        String(u.busy),
        String(u.inflight),
        u.uri,
      ]),
    ),
  ];
  if (status.pools.length > 0) {
    parts.push(
      "",
      table(
        [
          "Pool",
          "Open name",
          "Clients",
          "Conns",
          "Opened",
          "In flight",
          "Queued",
          "Streams",
          "Events",
        ],
        status.pools.map((p) => [
          p.upstream + (p.readonly ? " (ro)" : ""),
          p.openName === "" ? "(default)" : p.openName,
          String(p.clients),
          String(p.connections),
          String(p.opened),
          String(p.inflight),
          String(p.queued),
          String(p.streams),
          String(p.registrations),
        ]),
      ),
    );
  }
  return parts.join("\n");
}
