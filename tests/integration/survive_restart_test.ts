/**
 * `survive_restart` end to end: a real libvirtd is SIGKILLed and restarted, then stopped and
 * started (SIGTERM), under python-libvirt clients with lifecycle and close callbacks on a shared
 * listener. Every client keeps receiving its events with no close callback; calls in flight get
 * an error; a call made during the outage is served when the daemon is back within restart_wait
 * and gets an error after it; `virsh event --all --loop` prints events across both restarts.
 * Also: a dedicated client's close callback fires at once when its daemon dies, and a shared
 * listener pings a client that asked about keepalive, and drops one that does not answer.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { KeepaliveProc, MessageType, Program } from "../../src/wire/constants.ts";
import { readHeader } from "../../src/wire/header.ts";
import { frame, FrameSource, words } from "../_helpers/frames.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import {
  assertNoLeftoverProcesses,
  spawnProcess,
  waitFor,
  waitForPath,
} from "./helpers/process.ts";
import { PYTHON, PYTHON_EVENT_PRELUDE, runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux } from "./helpers/virtmux.ts";

const CLIENTS = 50;

/** A client URI that reaches the test driver through the virtmux socket `socket`. */
function via(socket: string): string {
  return `test+unix:///default?socket=${socket}`;
}

/**
 * Python: N connections, each with a lifecycle callback and a close callback, and one busy
 * thread calling in a loop. For each "goK" file it waits until every connection has seen 2*K
 * events, then touches "seenK". Prints JSON: events per connection, close reasons, the busy
 * thread's errors and its calls after the last error.
 */
const SURVIVORS = PYTHON_EVENT_PRELUDE + `
proxy_uri, dir = sys.argv[1:3]
n = int(sys.argv[3])
lock = threading.Lock()
events = [[] for _ in range(n)]
closed = {}
def on_close(conn, reason, i):
    with lock:
        closed[i] = reason
def on_event(conn, dom, event, detail, i):
    with lock:
        events[i].append("%s:%d" % (dom.name(), event))
conns = []
for i in range(n):
    c = libvirt.open(proxy_uri)
    c.registerCloseCallback(on_close, i)
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, i)
    conns.append(c)
busy = {"errors": [], "after": 0}
stop = threading.Event()
def calling():
    while not stop.is_set():
        try:
            conns[0].listAllDomains()
            busy["after"] += 1
        except libvirt.libvirtError as e:
            busy["errors"].append(e.get_error_message())
            busy["after"] = 0
            time.sleep(0.05)
threading.Thread(target=calling, daemon=True).start()
touch(os.path.join(dir, "ready"))
for k in (1, 2):
    wait_for(os.path.join(dir, "go%d" % k), 60)
    deadline = time.time() + 20
    while time.time() < deadline and min(len(e) for e in events) < 2 * k:
        time.sleep(0.05)
    touch(os.path.join(dir, "seen%d" % k))
time.sleep(0.3)
stop.set()
with lock:
    print(json.dumps({"events": events, "closed": closed, "busy": busy}))
`;

/** Python: one call (listAllDomains) on a fresh connection; prints "ok" or the error. */
const ONE_CALL = `
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
conn = libvirt.open(sys.argv[1])
open(sys.argv[2], "w").close()
try:
    print("ok", len(conn.listAllDomains()))
except libvirt.libvirtError as e:
    print("error", e.get_error_message())
`;

/** Python: a close callback on a connection; prints the seconds from "kill" to the callback. */
const CLOSE_TIMER = PYTHON_EVENT_PRELUDE + `
proxy_uri, ready, killed = sys.argv[1:4]
fired = threading.Event()
conn = libvirt.open(proxy_uri)
conn.registerCloseCallback(lambda c, reason, o: fired.set(), None)
conn.listAllDomains()
touch(ready)
wait_for(killed)
start = time.time()
fired.wait(15)
print(json.dumps({"fired": fired.is_set(), "seconds": time.time() - start}))
`;

Deno.test("survive_restart: clients keep their callbacks across daemon restarts", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("survive");
  const shared = join(dir, "shared.sock");
  const dedicated = join(dir, "dedicated.sock");
  const pinged = join(dir, "pinged.sock");
  const virtmux = await startVirtmux(`
[log]
level = "debug"

[limits]
connect_timeout = 3

[[upstream]]
name = "pooled"
uri = "${libvirtd.uris.unix}"
share = true
pool_max = 2
survive_restart = true
restart_wait = 6

[[upstream]]
name = "own"
uri = "${libvirtd.uris.unix}"

[[listen]]
socket = "${shared}"
upstream = "pooled"

[[listen]]
socket = "${dedicated}"
upstream = "own"

[[listen]]
socket = "${pinged}"
upstream = "pooled"
keepalive_interval = 1
keepalive_count = 2
`);
  const direct = libvirtd.uris.unix;
  const cycle = async () => {
    const result = await virsh(direct, ["destroy test; start test"]);
    assert.equal(result.code, 0, result.stderr);
  };
  let ok = true;
  const step = async (name: string, fn: () => Promise<void>) => {
    if (!(await t.step(name, fn))) ok = false;
  };
  try {
    await step(
      `${CLIENTS} clients: events after a SIGKILL and a SIGTERM restart, no close`,
      async () => {
        const eventLog = join(dir, "virsh-event.log");
        const watcher = spawnProcess("virsh", {
          args: ["-c", via(shared), "event", "--all", "--loop"],
          env: { LC_ALL: "C", HOME: dir },
          logFile: eventLog,
          name: "virsh event",
        });
        const running = runPython(SURVIVORS, [via(shared), dir, String(CLIENTS)], {
          timeoutMs: 120000,
        });
        try {
          await waitForPath(join(dir, "ready"), { timeoutMs: 60000 });
          await new Promise((resolve) => setTimeout(resolve, 1000)); // virsh event registers
          const replays = async () =>
            (await virtmux.logText()).match(/event registrations made again/g)?.length ?? 0;

          // Freeze the daemon first so the busy thread's next call is surely in flight when
          // the daemon dies (a call between two loop turns would not be), then SIGKILL it.
          Deno.kill(libvirtd.pid, "SIGSTOP");
          await new Promise((resolve) => setTimeout(resolve, 500));
          await libvirtd.kill(); // SIGKILL: calls in flight fail
          await new Promise((resolve) => setTimeout(resolve, 300));
          await libvirtd.restart();
          await waitFor("the pool to register again", async () => await replays() === 1, {
            timeoutMs: 15000,
          });
          await cycle();
          await Deno.writeTextFile(join(dir, "go1"), "");
          await waitForPath(join(dir, "seen1"), { timeoutMs: 30000 });

          await libvirtd.restart(); // SIGTERM, then a fresh start
          await waitFor("the pool to register again", async () => await replays() === 2, {
            timeoutMs: 15000,
          });
          await cycle();
          await Deno.writeTextFile(join(dir, "go2"), "");
        } finally {
          await Deno.writeTextFile(join(dir, "go1"), "");
          await Deno.writeTextFile(join(dir, "go2"), "");
        }
        const result = await running;
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout.trim().split("\n").pop()!);
        const expected = ["test:5", "test:2", "test:5", "test:2"]; // stopped, started, twice
        for (const seen of report.events) assert.deepEqual(seen, expected);
        assert.deepEqual(report.closed, {}, "no close callback fired");
        assert.ok(report.busy.errors.length >= 1, "a call in flight at the kill got an error");
        assert.match(report.busy.errors[0], /Upstream "pooled"/);
        assert.ok(report.busy.after > 0, "calls succeed again after the restart");
        const clients = await libvirtd.clientCount();
        assert.ok(clients >= 1 && clients <= 2, `the daemon sees the pool only (${clients})`);

        await watcher.kill();
        const printed = await Deno.readTextFile(eventLog);
        const stops = printed.match(/event 'lifecycle' for domain 'test': Stopped/g) ?? [];
        assert.equal(stops.length, 2, printed);
      },
    );

    await step(
      "a call during the outage is served within restart_wait, refused after it",
      async () => {
        await libvirtd.kill();
        const opened = join(dir, "opened");
        await Deno.remove(opened).catch(() => {});
        // The client opens during the outage too: its open waits like its call.
        const early = runPython(ONE_CALL, [via(shared), opened], { timeoutMs: 30000 });
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await libvirtd.restart();
        const served = await early;
        assert.equal(served.code, 0, served.stderr);
        assert.match(served.stdout, /^ok 1/);

        await libvirtd.kill();
        const started = Date.now();
        const late = await runPython(ONE_CALL, [via(shared), join(dir, "opened2")], {
          timeoutMs: 30000,
        });
        assert.ok(Date.now() - started >= 5500, "it waited restart_wait (6 s)");
        assert.match(late.stdout + late.stderr, /Upstream "pooled".*restart_wait/);
        await libvirtd.restart();
      },
    );

    await step(
      "a dedicated client's close callback fires at once when its daemon dies",
      async () => {
        const ready = join(dir, "close-ready");
        const killed = join(dir, "close-killed");
        const running = runPython(CLOSE_TIMER, [via(dedicated), ready, killed], {
          timeoutMs: 30000,
        });
        await waitForPath(ready, { timeoutMs: 15000 });
        await libvirtd.kill();
        await Deno.writeTextFile(killed, "");
        const result = await running;
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout.trim());
        assert.equal(report.fired, true);
        assert.ok(report.seconds < 2, `close callback after ${report.seconds} s`);
        await libvirtd.restart();
      },
    );

    await step(
      "a shared listener pings a client that asked, and drops it when unanswered",
      async () => {
        const conn = await Deno.connect({ transport: "unix", path: pinged });
        const frames = new FrameSource(conn);
        try {
          await conn.write(frame({ procedure: 60, serial: 1, body: words(10) })); // keepalive?
          const reply = await frames.next();
          assert.equal(readHeader(reply!).type, MessageType.REPLY);
          const started = Date.now();
          const ping = await frames.next();
          assert.ok(ping);
          assert.equal(readHeader(ping).program, Program.KEEPALIVE);
          assert.equal(readHeader(ping).procedure, KeepaliveProc.PING);
          // Unanswered: a second ping, then the close, (count + 1) intervals after the last byte.
          assert.equal(readHeader((await frames.next())!).procedure, KeepaliveProc.PING);
          assert.equal(await frames.next(), null);
          const seconds = (Date.now() - started) / 1000;
          assert.ok(seconds >= 1 && seconds < 6, `closed after ${seconds} s`);
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
        }
        assert.match(await virtmux.logText(), /did not answer 2 keepalive pings/);
      },
    );
  } finally {
    const result = await virtmux.stop();
    if (!ok) await Deno.writeTextFile("/tmp/surv-virtmux.log", await virtmux.logText());
    assert.equal(result.code, 0);
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
  void PYTHON;
});
