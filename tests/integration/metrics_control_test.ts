/**
 * `[metrics]` and the control socket end to end: a private libvirtd, one `virtmux serve` with
 * dedicated, shared, survive_restart, unreachable and size-limited upstreams and listeners, and
 * a scripted run of real clients (virsh, python-libvirt, raw sockets for the bad frames). Then
 * `/metrics` is scraped and every counter is checked against the values that run implies; and
 * `virtmux status`, `virtmux clients` and `virtmux client-disconnect` are run against it, the
 * disconnected python client seeing its close callback.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { freePort } from "./helpers/ports.ts";
import { assertNoLeftoverProcesses, waitFor, waitForPath } from "./helpers/process.ts";
import { PYTHON_EVENT_PRELUDE, runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { runVirtmux, startVirtmux } from "./helpers/virtmux.ts";
import { PYTHON_OPEN } from "./helpers/upstream_clients.ts";
import { frame } from "../_helpers/frames.ts";
import { parseScrape, type Scrape } from "../_helpers/scrape.ts";

/** A client URI that reaches the test driver through the virtmux socket `socket`. */
function via(socket: string): string {
  return `test+unix:///default?socket=${socket}`;
}

/** Python: one call the policy denies; prints the error. */
const DENIED = `
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
conn = libvirt.open(sys.argv[1])
try:
    conn.getHostname()
    print("allowed")
except libvirt.libvirtError as e:
    print("denied", e.get_error_code())
conn.close()
`;

/** Python: lifecycle events until `go` and 2 events; prints how many arrived. */
const EVENTS = PYTHON_EVENT_PRELUDE + `
uri, ready, go = sys.argv[1:4]
seen = []
conn = libvirt.open(uri)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                            lambda c, d, e, x, o: seen.append(e), None)
touch(ready)
wait_for(go)
deadline = time.time() + 20
while len(seen) < 2 and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
conn.close()
print(json.dumps({"events": len(seen)}))
`;

/** Python: a close callback; waits (after "ready") until it fires; prints whether and why. */
const CLOSE_WAIT = PYTHON_EVENT_PRELUDE + `
uri, ready = sys.argv[1:3]
fired = threading.Event()
why = []
conn = libvirt.open(uri)
conn.registerCloseCallback(lambda c, reason, o: (why.append(reason), fired.set()), None)
conn.listAllDomains()
touch(ready)
fired.wait(30)
print(json.dumps({"fired": fired.is_set(), "reason": why[0] if why else None}))
`;

/** Sleeps `ms`. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads from `conn` until EOF or error; resolves to the bytes read. */
async function drain(conn: Deno.Conn): Promise<number> {
  const buffer = new Uint8Array(4096);
  let total = 0;
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      total += n;
    }
  } catch { /* reset */ }
  try {
    conn.close();
  } catch { /* closed */ }
  return total;
}

Deno.test("metrics: a scripted run of real clients shows in every counter", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("metrics");
  const port = freePort();
  const sock = (name: string) => join(dir, `${name}.sock`);
  const control = join(dir, "control.sock");
  const uid = Deno.uid() ?? 0;
  const virtmux = await startVirtmux(`
[log]
level = "debug"

[limits]
open_timeout = 2
connect_timeout = 3

[metrics]
listen = "127.0.0.1:${port}"

[control]
socket = "${control}"

[[upstream]]
name = "ded"
uri = "${libvirtd.uris.unix}"

[[upstream]]
name = "pool"
uri = "${libvirtd.uris.unix}"
share = true
pool_max = 1

[[upstream]]
name = "survivor"
uri = "${libvirtd.uris.unix}"
share = true
pool_max = 1
survive_restart = true
restart_wait = 10

[[upstream]]
name = "dead"
uri = "test+unix:///default?socket=${join(dir, "nowhere.sock")}"

[[listen]]
socket = "${sock("ded")}"
upstream = "ded"
deny_procedures = ["CONNECT_GET_HOSTNAME"]

[[listen]]
socket = "${sock("pool")}"
upstream = "pool"
allow_uids = [${uid}]

[[listen]]
socket = "${sock("limited")}"
upstream = "pool"
max_clients = 1

[[listen]]
socket = "${sock("survivor")}"
upstream = "survivor"

[[listen]]
socket = "${sock("dead")}"
upstream = "dead"
`);
  const scrape = async (): Promise<Scrape> => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return parseScrape(await response.text());
  };
  const control_ = (args: string[]) =>
    runVirtmux([...args, "--config", virtmux.configPath], { env: { HOME: dir } });
  let ok = true;
  const step = async (name: string, fn: () => Promise<void>) => {
    if (!(await t.step(name, fn))) ok = false;
  };
  let pythonEvents = -1;
  try {
    await step("dedicated: virsh, python, a denied call, a screenshot stream", async () => {
      const list = await virsh(via(sock("ded")), ["list", "--all"]);
      assert.equal(list.code, 0, list.stderr);
      for (let i = 0; i < 2; i++) {
        const result = await runPython(PYTHON_OPEN, [via(sock("ded"))]);
        assert.deepEqual(JSON.parse(result.stdout).domains, ["test"], result.stderr);
      }
      const denied = await runPython(DENIED, [via(sock("ded"))]);
      assert.equal(denied.stdout.trim(), "denied 29", denied.stderr);
      const shot = await virsh(via(sock("ded")), [
        "screenshot",
        "test",
        "--file",
        join(dir, "shot.ppm"),
      ]);
      assert.equal(shot.code, 0, shot.stderr);
    });

    await step("an unreachable upstream: one failed dial", async () => {
      const result = await runPython(PYTHON_OPEN, [via(sock("dead"))]);
      assert.match(JSON.parse(result.stdout).error, /nowhere\.sock/);
    });

    await step("shared: events fanned out to a python client", async () => {
      const ready = join(dir, "events-ready");
      const go = join(dir, "events-go");
      const running = runPython(EVENTS, [via(sock("pool")), ready, go], { timeoutMs: 60000 });
      await waitForPath(ready, { timeoutMs: 30000 });
      const cycle = await virsh(libvirtd.uris.unix, ["destroy test; start test"]);
      assert.equal(cycle.code, 0, cycle.stderr);
      await Deno.writeTextFile(go, "");
      const result = await running;
      pythonEvents = JSON.parse(result.stdout).events;
      assert.ok(pythonEvents >= 2, result.stdout + result.stderr);
    });

    await step("control: status, clients, client-disconnect fires the close callback", async () => {
      const ready = join(dir, "close-ready");
      const running = runPython(CLOSE_WAIT, [via(sock("pool")), ready], { timeoutMs: 60000 });
      await waitForPath(ready, { timeoutMs: 30000 });
      const status = await control_(["status"]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /virtmux pid \d+, up .*1 clients/);
      for (const name of ["ded", "pool", "limited", "survivor", "dead"]) {
        assert.ok(status.stdout.includes(sock(name)), status.stdout);
      }
      assert.match(status.stdout, /^pool\s+shared\s+0\s+1\s+0\s+0\s/m);
      assert.match(status.stdout, /^pool\s+\(default\)|^pool\s+test:\/\/\/default/m);
      const clients = await control_(["clients"]);
      assert.equal(clients.code, 0, clients.stderr);
      const row = clients.stdout.split("\n").find((line) => line.includes(sock("pool")));
      assert.ok(row !== undefined, clients.stdout);
      const [id, , rowUid, rowPid, upstream] = row.split(/\s+/);
      assert.equal(rowUid, String(uid));
      assert.ok(Number(rowPid) > 0);
      assert.equal(upstream, "pool");
      // AUTH_LIST, SUPPORTS_FEATURE ×3, CONNECT_OPEN, REGISTER_CLOSE_CALLBACK, LIST_ALL_DOMAINS.
      assert.match(row, /\s7\s+0$/, clients.stdout);
      const json = await control_(["clients", "--json"]);
      const listed = JSON.parse(json.stdout).clients;
      assert.equal(listed.length, 1);
      assert.equal(listed[0].id, Number(id));
      const gone = await control_(["client-disconnect", "999999"]);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /No client with id 999999/);
      const disconnect = await control_(["client-disconnect", id]);
      assert.equal(disconnect.code, 0, disconnect.stderr);
      assert.equal(disconnect.stdout.trim(), `Client ${id} disconnected`);
      const result = await running;
      assert.equal(JSON.parse(result.stdout).fired, true, result.stdout + result.stderr);
    });

    await step("refusal, open timeout, oversize and bad frames on a limited listener", async () => {
      const held = await Deno.connect({ transport: "unix", path: sock("limited") });
      await sleep(200);
      const refused = await Deno.connect({ transport: "unix", path: sock("limited") });
      await refused.write(frame({ procedure: 66 }));
      assert.ok((await drain(refused)) > 28, "the refused client gets an error reply");
      const start = Date.now();
      await drain(held); // closed by open_timeout (2 s, swept once a second)
      assert.ok(Date.now() - start >= 1000);
      // A client counts against max_clients until its session has ended, just after its EOF.
      const limitedFree = () =>
        waitFor("the limited listener to be free", async () => {
          return (await scrape()).value("virtmux_listener_current_clients", {
            listener: sock("limited"),
          }) === 0;
        });
      await limitedFree();
      const big = await Deno.connect({ transport: "unix", path: sock("limited") });
      await big.write(frame({ length: 0x7ffffff0 }));
      await drain(big);
      await limitedFree();
      const bad = await Deno.connect({ transport: "unix", path: sock("limited") });
      await bad.write(frame({ program: 0x12345678 }));
      await drain(bad);
    });

    await step("a daemon restart: survived by one pool, lost by a dedicated client", async () => {
      const survivorReady = join(dir, "survivor-ready");
      const survivorGo = join(dir, "survivor-go");
      const survivor = runPython(EVENTS, [via(sock("survivor")), survivorReady, survivorGo], {
        timeoutMs: 90000,
      });
      const closeReady = join(dir, "ded-ready");
      const dedicated = runPython(CLOSE_WAIT, [via(sock("ded")), closeReady], {
        timeoutMs: 90000,
      });
      await waitForPath(survivorReady, { timeoutMs: 30000 });
      await waitForPath(closeReady, { timeoutMs: 30000 });
      await libvirtd.restart();
      await waitFor("the survivor pool to register again", async () => {
        return /event registrations made again/.test(await virtmux.logText());
      }, { timeoutMs: 20000 });
      const lost = await dedicated;
      assert.equal(JSON.parse(lost.stdout).fired, true, lost.stdout + lost.stderr);
      await Deno.writeTextFile(survivorGo, "");
      const cycle = await virsh(libvirtd.uris.unix, ["destroy test; start test"]);
      assert.equal(cycle.code, 0, cycle.stderr);
      const result = await survivor;
      assert.equal(JSON.parse(result.stdout).events, 2, result.stdout + result.stderr);
    });

    await step("the scrape shows what the run did", async () => {
      await waitFor("every client to leave", async () => {
        const s = await scrape();
        return s.sum("virtmux_listener_current_clients", {}) === 0;
      }, { timeoutMs: 10000 });
      const s = await scrape();
      const v = (name: string, labels: Record<string, string>) => s.value(name, labels);
      // Clients per listener (each +1: startVirtmux's readiness probe), and the refusal.
      assert.equal(v("virtmux_listener_clients_total", { listener: sock("ded") }), 7);
      assert.equal(v("virtmux_listener_clients_total", { listener: sock("pool") }), 3);
      assert.equal(v("virtmux_listener_clients_total", { listener: sock("limited") }), 4);
      assert.equal(v("virtmux_listener_clients_total", { listener: sock("survivor") }), 2);
      assert.equal(v("virtmux_listener_clients_total", { listener: sock("dead") }), 2);
      assert.equal(
        v("virtmux_listener_refused_clients_total", {
          listener: sock("limited"),
          reason: "max_clients",
        }),
        1,
      );
      // Dials: one per dedicated client (the probes too), one for the pool (its connection
      // outlives its clients), and the dead upstream's failing.
      assert.equal(v("virtmux_upstream_dials_total", { upstream: "ded" }), 7);
      assert.equal(v("virtmux_upstream_dial_failures_total", { upstream: "ded" }), 0);
      assert.equal(v("virtmux_upstream_dials_total", { upstream: "dead" }), 2);
      assert.equal(v("virtmux_upstream_dial_failures_total", { upstream: "dead" }), 2);
      assert.equal(v("virtmux_upstream_dials_total", { upstream: "pool" }), 1);
      const survivorDials = v("virtmux_upstream_dials_total", { upstream: "survivor" });
      const survivorFailures = v("virtmux_upstream_dial_failures_total", { upstream: "survivor" });
      assert.equal(survivorDials - survivorFailures, 2, "before and after the restart");
      for (const upstream of ["ded", "dead", "pool", "survivor"]) {
        assert.equal(
          v("virtmux_upstream_dial_duration_seconds_count", { upstream }),
          v("virtmux_upstream_dials_total", { upstream }),
        );
      }
      // Calls by procedure and outcome.
      const calls = (upstream: string, procedure: string, outcome = "ok") =>
        v("virtmux_calls_total", { upstream, program: "remote", procedure, outcome });
      assert.equal(calls("ded", "CONNECT_OPEN"), 6);
      assert.equal(calls("ded", "CONNECT_CLOSE"), 5, "all but the client whose daemon died");
      assert.equal(calls("ded", "CONNECT_LIST_ALL_DOMAINS"), 4);
      assert.equal(calls("ded", "CONNECT_GET_HOSTNAME", "error"), 1);
      assert.equal(calls("ded", "DOMAIN_SCREENSHOT"), 1);
      assert.equal(calls("pool", "CONNECT_OPEN"), 2);
      assert.equal(calls("pool", "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY"), 1);
      assert.equal(calls("pool", "CONNECT_LIST_ALL_DOMAINS"), 1);
      assert.equal(calls("survivor", "CONNECT_OPEN"), 1);
      for (const upstream of ["ded", "pool", "survivor"]) {
        const answered = s.sum("virtmux_calls_total", { upstream });
        assert.equal(
          s.sum("virtmux_frames_total", { upstream, direction: "from_client", type: "call" }),
          answered,
          `every call of ${upstream} was answered`,
        );
        assert.equal(
          s.sum("virtmux_frames_total", { upstream, direction: "to_client", type: "reply" }),
          answered,
        );
        assert.equal(s.sum("virtmux_call_duration_seconds_count", { upstream }), answered);
        const framesIn = s.sum("virtmux_frames_total", { upstream, direction: "from_client" });
        assert.ok(
          v("virtmux_bytes_total", { upstream, direction: "from_client" }) >= 28 * framesIn,
        );
      }
      // Streams and events.
      assert.equal(v("virtmux_streams_total", { upstream: "ded" }), 1);
      assert.ok(s.sum("virtmux_frames_total", { upstream: "ded", type: "stream" }) >= 2);
      assert.equal(v("virtmux_events_total", { upstream: "pool" }), pythonEvents);
      assert.equal(v("virtmux_events_total", { upstream: "survivor" }), 2);
      assert.equal(v("virtmux_events_total", { upstream: "ded" }), 0);
      // Errors by kind.
      const errors = (upstream: string, kind: string) =>
        v("virtmux_errors_total", { upstream, kind });
      assert.equal(errors("ded", "policy_denied"), 1);
      assert.equal(errors("ded", "upstream_lost"), 1);
      assert.equal(errors("pool", "timeout"), 1);
      assert.equal(errors("pool", "oversize"), 1);
      assert.equal(errors("pool", "bad_frame"), 1);
      assert.equal(errors("survivor", "upstream_lost"), 1);
      assert.equal(errors("pool", "upstream_lost"), 1, "its idle connection, at the restart");
      assert.equal(errors("ded", "oversize") + errors("ded", "bad_frame"), 0);
      assert.equal(v("virtmux_upstream_restarts_survived_total", { upstream: "survivor" }), 1);
      // Gauges with every client gone.
      assert.equal(v("virtmux_pool_queued_calls", { upstream: "pool" }), 0);
      assert.equal(v("virtmux_pool_waiting_clients", { upstream: "pool" }), 0);
      assert.equal(v("virtmux_upstream_connections", { upstream: "ded", state: "busy" }), 0);
      assert.equal(v("virtmux_upstream_inflight_calls", { upstream: "ded" }), 0);
      assert.equal(
        v("virtmux_build_info", {
          version: s.labelsOf("virtmux_build_info")[0].version,
          deno: Deno.version.deno,
        }),
        1,
      );
    });
  } finally {
    const stopped = await virtmux.stop();
    await libvirtd.stop();
    await removeDir(dir);
    if (ok) {
      assert.equal(stopped.code, 0, await virtmux.logText());
      assertNoLeftoverProcesses();
    } else {
      console.error((await virtmux.logText()).slice(-6000));
    }
  }
});
