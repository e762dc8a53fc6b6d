import assert from "node:assert/strict";
import { ProxyMetrics } from "../../src/metrics/proxy_metrics.ts";
import type { ServerSnapshot } from "../../src/proxy/server_snapshot.ts";
import { MessageType, RemoteProc } from "../../src/wire/constants.ts";
import { frame } from "../_helpers/frames.ts";
import { parseScrape } from "../_helpers/scrape.ts";

const SNAPSHOT: ServerSnapshot = {
  pid: 1,
  startedAt: 0,
  listeners: [{ socket: "/s/a.sock", upstream: "hv1", readonly: false, clients: 2 }],
  upstreams: [
    { name: "hv1", uri: "qemu:///system", shared: true, opening: 1, idle: 2, busy: 3, inflight: 4 },
  ],
  pools: [{
    upstream: "hv1",
    openName: "",
    readonly: false,
    clients: 2,
    waitingClients: 1,
    connections: 5,
    busy: 3,
    opening: 1,
    inflight: 4,
    queued: 6,
    streams: 1,
    registrations: 2,
    opened: 7,
  }],
  clients: [],
};

Deno.test("server counters, session meters and the snapshot all reach the scrape", () => {
  const metrics = new ProxyMetrics({ version: "9.9.9", snapshot: () => SNAPSHOT });
  metrics.clientAccepted("/s/a.sock");
  metrics.clientRefused("/s/a.sock", "max_clients");
  metrics.dialed("hv1", 0.003, false);
  metrics.dialed("hv1", 0.2, true);
  metrics.timedOut("hv1");
  metrics.pool("hv1").upstreamLost();
  metrics.pool("hv1").restartSurvived();
  const session = metrics.observe({ listener: "/s/a.sock", client: 5 }, {
    name: "hv1",
    uri: "qemu:///system",
    shared: true,
  });
  session.fromClient(frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 1 }));
  assert.equal(metrics.callsOf(5), 1);
  session.toClient(
    frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 1, type: MessageType.REPLY }),
  );
  metrics.audit().records.inc(3);
  const s = parseScrape(metrics.render());
  assert.equal(s.value("virtmux_build_info", { version: "9.9.9", deno: Deno.version.deno }), 1);
  assert.equal(s.value("virtmux_listener_current_clients", { listener: "/s/a.sock" }), 2);
  assert.equal(s.value("virtmux_listener_clients_total", { listener: "/s/a.sock" }), 1);
  assert.equal(
    s.value("virtmux_listener_refused_clients_total", {
      listener: "/s/a.sock",
      reason: "max_clients",
    }),
    1,
  );
  assert.equal(s.value("virtmux_upstream_connections", { upstream: "hv1", state: "busy" }), 3);
  assert.equal(s.value("virtmux_upstream_inflight_calls", { upstream: "hv1" }), 4);
  assert.equal(s.value("virtmux_upstream_dials_total", { upstream: "hv1" }), 2);
  assert.equal(s.value("virtmux_upstream_dial_failures_total", { upstream: "hv1" }), 1);
  assert.equal(s.value("virtmux_upstream_dial_duration_seconds_count", { upstream: "hv1" }), 2);
  assert.equal(
    s.value("virtmux_upstream_dial_duration_seconds_bucket", { upstream: "hv1", le: "0.005" }),
    1,
  );
  assert.equal(s.value("virtmux_errors_total", { upstream: "hv1", kind: "timeout" }), 1);
  assert.equal(s.value("virtmux_errors_total", { upstream: "hv1", kind: "upstream_lost" }), 1);
  assert.equal(s.value("virtmux_upstream_restarts_survived_total", { upstream: "hv1" }), 1);
  assert.equal(s.value("virtmux_pool_queued_calls", { upstream: "hv1" }), 6);
  assert.equal(s.value("virtmux_pool_waiting_clients", { upstream: "hv1" }), 1);
  assert.equal(s.value("virtmux_pool_streams", { upstream: "hv1" }), 1);
  assert.equal(s.value("virtmux_pool_event_registrations", { upstream: "hv1" }), 2);
  assert.equal(
    s.value("virtmux_calls_total", {
      upstream: "hv1",
      program: "remote",
      procedure: "CONNECT_OPEN",
      outcome: "ok",
    }),
    1,
  );
  assert.equal(s.value("virtmux_audit_records_total", {}), 3);
  session.closed("finished");
  assert.equal(metrics.callsOf(5), undefined);
});

Deno.test("clientLeft forgets a session whose close was never observed", () => {
  const metrics = new ProxyMetrics({ version: "1" });
  metrics.observe({ listener: "/s", client: 9 }, { name: "x", uri: "u", shared: false });
  assert.equal(metrics.callsOf(9), 0);
  metrics.clientLeft("/s", 9);
  assert.equal(metrics.callsOf(9), undefined);
  assert.equal(metrics.audit(), metrics.audit());
});
