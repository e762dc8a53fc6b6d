/**
 * virtmux's metrics: the families it exports (names after HAProxy's and Envoy's exporters, with
 * a `virtmux_` prefix), fed three ways. Frames through a {@linkcode SessionMeter} per session
 * (the proxy's session observer hook); admissions, dials, timeouts and pool events through the
 * {@linkcode ServerCounters} the server is given; gauges (current clients, connections by
 * state, queues, in-flight calls) from the server's snapshot at scrape time.
 *
 * @module
 */

import type { PoolCounters, RefusalReason, ServerCounters } from "../proxy/counters.ts";
import type { ClientIdentity, ObservedUpstream, SessionObservers } from "../proxy/observer.ts";
import type { ServerSnapshot } from "../proxy/server_snapshot.ts";
import { DIAL_BUCKETS, Histogram } from "./histogram.ts";
import { type Counter, MetricsRegistry } from "./registry.ts";
import { SessionMeter } from "./session_meter.ts";
import { formatSample } from "./text_format.ts";
import { ErrorKindIndex, type MeterFamily, UpstreamMeter } from "./upstream_meter.ts";

/** Options for {@linkcode ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /** The program version, for `virtmux_build_info`. */
  version: string;
  /** The server's state at scrape time; set later with {@linkcode ProxyMetrics.watch}. */
  snapshot?: () => ServerSnapshot;
}

/** Counters the audit log feeds (see {@linkcode ProxyMetrics.audit}). */
export interface AuditCounters {
  /** Records written. */
  records: Counter;
  /** Seal records written. */
  seals: Counter;
  /** Records dropped under `drop` backpressure. */
  dropped: Counter;
}

/** The metrics of one virtmux process. */
export class ProxyMetrics implements SessionObservers, ServerCounters {
  /** The registry every family is in; others may add their own. */
  readonly registry: MetricsRegistry = new MetricsRegistry();
  readonly #meters = new Map<string, UpstreamMeter>();
  /** Live session meters by client id, for the calls column of `virtmux clients`. */
  readonly #sessions = new Map<number | string, SessionMeter>();
  readonly #dialSeconds = new Map<string, Histogram>();
  readonly #pools = new Map<string, PoolCounters>();
  readonly #clientsTotal: Counter;
  readonly #refused: Counter;
  readonly #dials: Counter;
  readonly #dialFailures: Counter;
  readonly #restarts: Counter;
  #snapshot: (() => ServerSnapshot) | undefined;
  /** The snapshot of the scrape under way, read once per scrape. */
  #scraping: ServerSnapshot | undefined;
  #audit: AuditCounters | undefined;

  /** Registers every family. */
  constructor(options: ProxyMetricsOptions) {
    this.#snapshot = options.snapshot;
    const r = this.registry;
    r.collected("virtmux_build_info", "virtmux version; always 1", "gauge", (out, name) => {
      out.push(formatSample(name, { version: options.version, deno: Deno.version.deno }, 1));
    });
    r.collected(
      "virtmux_start_time_seconds",
      "When the process started, Unix time",
      "gauge",
      (out, name) => {
        out.push(formatSample(name, {}, Math.round(performance.timeOrigin) / 1000));
      },
    );
    r.collected(
      "virtmux_resident_memory_bytes",
      "Resident set size of the process",
      "gauge",
      (out, name) => {
        out.push(formatSample(name, {}, Deno.memoryUsage().rss));
      },
    );
    r.collected(
      "virtmux_listener_current_clients",
      "Clients connected now, per listener",
      "gauge",
      (out, name) => {
        for (const l of this.#snap()?.listeners ?? []) {
          out.push(formatSample(name, { listener: l.socket }, l.clients));
        }
      },
    );
    this.#clientsTotal = r.counter(
      "virtmux_listener_clients_total",
      "Clients admitted, per listener",
      ["listener"],
    );
    this.#refused = r.counter(
      "virtmux_listener_refused_clients_total",
      "Clients refused before a session, per listener and reason (max_clients, peer_credentials)",
      ["listener", "reason"],
    );
    r.collected(
      "virtmux_upstream_connections",
      "Upstream connections now, per upstream and state (opening, idle, busy)",
      "gauge",
      (out, name) => {
        for (const u of this.#snap()?.upstreams ?? []) {
          for (const state of ["opening", "idle", "busy"] as const) {
            out.push(formatSample(name, { upstream: u.name, state }, u[state]));
          }
        }
      },
    );
    r.collected(
      "virtmux_upstream_inflight_calls",
      "Calls outstanding upstream now",
      "gauge",
      (out, name) => {
        for (const u of this.#snap()?.upstreams ?? []) {
          out.push(formatSample(name, { upstream: u.name }, u.inflight));
        }
      },
    );
    this.#dials = r.counter(
      "virtmux_upstream_dials_total",
      "Upstream dials (connect plus TLS or ssh handshake)",
      ["upstream"],
    );
    this.#dialFailures = r.counter(
      "virtmux_upstream_dial_failures_total",
      "Upstream dials that failed",
      ["upstream"],
    );
    r.collected(
      "virtmux_upstream_dial_duration_seconds",
      "Time to dial an upstream, handshake included, per upstream",
      "histogram",
      (out, name) => {
        for (const [upstream, histogram] of this.#dialSeconds) {
          histogram.render(out, name, { upstream });
        }
      },
    );
    this.#meterFamily(
      "virtmux_frames_total",
      "Frames by upstream, direction and message type",
      "counter",
      "frames",
    );
    this.#meterFamily(
      "virtmux_bytes_total",
      "Bytes of frames by upstream and direction",
      "counter",
      "bytes",
    );
    this.#meterFamily(
      "virtmux_calls_total",
      "Calls answered, by upstream, program, procedure and outcome (ok, error)",
      "counter",
      "calls",
    );
    this.#meterFamily(
      "virtmux_call_duration_seconds",
      "CALL to REPLY time seen from the client side, by upstream, program and procedure",
      "histogram",
      "latency",
    );
    this.#meterFamily(
      "virtmux_errors_total",
      "Errors by upstream and kind (oversize, bad_frame, policy_denied, upstream_lost, timeout, budget)",
      "counter",
      "errors",
    );
    r.collected(
      "virtmux_pool_queued_calls",
      "Calls waiting for a pool connection slot",
      "gauge",
      (out, name) => {
        for (const [upstream, total] of this.#poolSums((p) => p.queued)) {
          out.push(formatSample(name, { upstream }, total));
        }
      },
    );
    r.collected(
      "virtmux_pool_waiting_clients",
      "Clients waiting for their pool to be ready",
      "gauge",
      (out, name) => {
        for (const [upstream, total] of this.#poolSums((p) => p.waitingClients)) {
          out.push(formatSample(name, { upstream }, total));
        }
      },
    );
    r.collected(
      "virtmux_pool_clients",
      "Clients attached to shared pools",
      "gauge",
      (out, name) => {
        for (const [upstream, total] of this.#poolSums((p) => p.clients)) {
          out.push(formatSample(name, { upstream }, total));
        }
      },
    );
    r.collected(
      "virtmux_pool_event_registrations",
      "Event registrations held upstream by pools",
      "gauge",
      (out, name) => {
        for (const [upstream, total] of this.#poolSums((p) => p.registrations)) {
          out.push(formatSample(name, { upstream }, total));
        }
      },
    );
    r.collected("virtmux_pool_streams", "Streams open through pools", "gauge", (out, name) => {
      for (const [upstream, total] of this.#poolSums((p) => p.streams)) {
        out.push(formatSample(name, { upstream }, total));
      }
    });
    this.#meterFamily(
      "virtmux_events_total",
      "Event messages delivered to clients",
      "counter",
      "events",
    );
    this.#meterFamily(
      "virtmux_streams_total",
      "Streams opened (stream-opening calls answered OK)",
      "counter",
      "streams",
    );
    this.#restarts = r.counter(
      "virtmux_upstream_restarts_survived_total",
      "Daemon restarts a survive_restart pool rode out, its event registrations made again",
      ["upstream"],
    );
  }

  /** Gives the server's snapshot function (the server is made after the metrics). */
  watch(snapshot: () => ServerSnapshot): void {
    this.#snapshot = snapshot;
  }

  /** The counters of `upstream`, made on first use. */
  meter(upstream: string): UpstreamMeter {
    let meter = this.#meters.get(upstream);
    if (meter === undefined) {
      meter = new UpstreamMeter(upstream);
      this.#meters.set(upstream, meter);
    }
    return meter;
  }

  /** Calls made so far by client `id`, while it is connected. */
  callsOf(id: number): number | undefined {
    return this.#sessions.get(id)?.calls;
  }

  /**
   * The audit log's counters (`virtmux_audit_records_total`, `virtmux_audit_seals_total`,
   * `virtmux_audit_dropped_records_total`), registered on first call.
   */
  audit(): AuditCounters {
    this.#audit ??= {
      records: this.registry.counter("virtmux_audit_records_total", "Audit records written"),
      seals: this.registry.counter("virtmux_audit_seals_total", "Audit seal records written"),
      dropped: this.registry.counter(
        "virtmux_audit_dropped_records_total",
        "Audit records dropped under drop backpressure",
      ),
    };
    return this.#audit;
  }

  /** The text served at /metrics. */
  render(): string {
    this.#scraping = this.#snapshot?.();
    try {
      for (const upstream of this.#scraping?.upstreams ?? []) this.meter(upstream.name);
      return this.registry.render();
    } finally {
      this.#scraping = undefined;
    }
  }

  /** A meter for a new session (SessionObservers). */
  observe(identity: ClientIdentity, upstream: ObservedUpstream): SessionMeter {
    const meter = new SessionMeter(this.meter(upstream.name), () => {
      this.#sessions.delete(identity.client);
    });
    this.#sessions.set(identity.client, meter);
    return meter;
  }

  /** ServerCounters. */
  clientAccepted(listener: string): void {
    this.#clientsTotal.labels(listener).inc();
  }

  /** ServerCounters. */
  clientLeft(_listener: string, id: number): void {
    this.#sessions.delete(id);
  }

  /** ServerCounters. */
  clientRefused(listener: string, reason: RefusalReason): void {
    this.#refused.labels(listener, reason).inc();
  }

  /** ServerCounters. */
  dialed(upstream: string, seconds: number, failed: boolean): void {
    this.#dials.labels(upstream).inc();
    if (failed) this.#dialFailures.labels(upstream).inc();
    else this.#dialFailures.labels(upstream).inc(0);
    let histogram = this.#dialSeconds.get(upstream);
    if (histogram === undefined) {
      histogram = new Histogram(DIAL_BUCKETS);
      this.#dialSeconds.set(upstream, histogram);
    }
    histogram.observe(seconds);
  }

  /** ServerCounters. */
  timedOut(upstream: string): void {
    this.meter(upstream).errors[ErrorKindIndex.timeout]++;
  }

  /** ServerCounters. */
  pool(upstream: string): PoolCounters {
    let counters = this.#pools.get(upstream);
    if (counters === undefined) {
      const meter = this.meter(upstream);
      const restarts = this.#restarts.labels(upstream);
      counters = {
        upstreamLost: () => meter.errors[ErrorKindIndex.upstream_lost]++,
        restartSurvived: () => restarts.inc(),
      };
      this.#pools.set(upstream, counters);
    }
    return counters;
  }

  #snap(): ServerSnapshot | undefined {
    return this.#scraping ?? this.#snapshot?.();
  }

  #poolSums(pick: (pool: ServerSnapshot["pools"][number]) => number): Map<string, number> {
    const sums = new Map<string, number>();
    for (const u of this.#snap()?.upstreams ?? []) if (u.shared) sums.set(u.name, 0);
    for (const pool of this.#snap()?.pools ?? []) {
      sums.set(pool.upstream, (sums.get(pool.upstream) ?? 0) + pick(pool));
    }
    return sums;
  }

  #meterFamily(
    name: string,
    help: string,
    type: "counter" | "histogram",
    family: MeterFamily,
  ): void {
    this.registry.collected(name, help, type, (out) => {
      for (const meter of this.#meters.values()) meter.render(family, out);
    });
  }
}
