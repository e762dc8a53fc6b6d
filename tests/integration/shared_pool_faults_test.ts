/**
 * virtmux end to end with a shared pool when things go away: a client SIGKILLed in the middle of
 * its calls, a pool whose idle upstream connections close and reopen, and a daemon that is
 * SIGKILLed under busy python-libvirt clients and then restarted. One private libvirtd (debug
 * logging for its remote dispatcher, so the daemon's own view of event callbacks can be read from
 * its log) and one `virtmux serve` with two pooled upstreams to it: "pooled" over unix, "idler"
 * over tcp with a 1 s idle timeout; `virt-admin srv-clients-list` tells their daemon connections
 * apart by transport.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type Libvirtd, startLibvirtd } from "./helpers/libvirtd.ts";
import {
  assertNoLeftoverProcesses,
  runCommand,
  type SpawnedProcess,
  spawnProcess,
  waitFor,
  waitForPath,
} from "./helpers/process.ts";
import { PYTHON, PYTHON_EVENT_PRELUDE, runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

const UPSTREAM = "pooled";

/** A client URI that reaches the test driver through the virtmux socket `socket`. */
function via(socket: string): string {
  return `test+unix:///default?socket=${socket}`;
}

/** How many clients of the daemon use `transport` ("unix" or "tcp"), from virt-admin. */
async function daemonClients(libvirtd: Libvirtd, transport: string): Promise<number> {
  const result = await runCommand("virt-admin", [
    "-c",
    `libvirtd:///system?socket=${libvirtd.adminSocket}`,
    "srv-clients-list",
    "libvirtd",
  ], { env: { LC_ALL: "C", HOME: libvirtd.dir } });
  assert.equal(result.code, 0, result.stderr);
  return [...result.stdout.matchAll(/^\s*\d+\s+(\S+)\s/gm)].filter((m) => m[1] === transport)
    .length;
}

/** Live domain event callbacks in the daemon: registrations minus deregistrations in its log. */
async function daemonCallbacks(libvirtd: Libvirtd): Promise<number> {
  const log = await Deno.readTextFile(libvirtd.logFile);
  const registered = log.match(/EventCallbackRegisterAnyHelper/g)?.length ?? 0;
  const deregistered = log.match(/EventCallbackDeregisterAnyHelper/g)?.length ?? 0;
  return registered - deregistered;
}

/** Python: one connection calling every 0.2 s from "ready" until "stop", then closing. */
const STEADY_SCRIPT = PYTHON_EVENT_PRELUDE + `
proxy_uri, ready, stop = sys.argv[1:4]
conn = libvirt.open(proxy_uri)
conn.listAllDomains()
touch(ready)
while not os.path.exists(stop):
    conn.listAllDomains()
    time.sleep(0.2)
conn.close()
print("closed")
`;

/**
 * Python: N busy connections, each calling in a loop until its first error, and one idle
 * connection; every one has a close callback. Says "ready" once all are open and calling, then
 * waits (up to 15 s) for every busy one to fail and (up to 3 s more) for the close callbacks.
 * Prints JSON: per busy client the epoch ms of its error and the message; the close reasons.
 */
const KILLED_SCRIPT = PYTHON_EVENT_PRELUDE + `
proxy_uri, ready = sys.argv[1:3]
n = int(sys.argv[3])
lock = threading.Lock()
closed = {}
def on_close(conn, reason, name):
    with lock:
        closed[name] = reason
failures = [None] * n
calls = [0] * n
def busy(i, conn):
    while True:
        try:
            conn.listAllDomains()
            calls[i] += 1
        except libvirt.libvirtError as e:
            failures[i] = {"ms": time.time() * 1000, "message": e.get_error_message()}
            return
conns = []
for i in range(n):
    conn = libvirt.open(proxy_uri)
    conn.registerCloseCallback(on_close, "busy%d" % i)
    conns.append(conn)
idle = libvirt.open(proxy_uri)
idle.registerCloseCallback(on_close, "idle")
idle.listAllDomains()
threads = [threading.Thread(target=busy, args=(i, c), daemon=True) for i, c in enumerate(conns)]
for t in threads:
    t.start()
while min(calls) < 3:
    time.sleep(0.01)
touch(ready)
for t in threads:
    t.join(15)
deadline = time.time() + 3
while len(closed) < n + 1 and time.time() < deadline:
    time.sleep(0.05)
with lock:
    print(json.dumps({"failures": failures, "closed": closed}))
`;

/**
 * Python, the client that gets SIGKILLed: registers two callbacks no other client has (lifecycle
 * of "test" only, and reboot), says "ready", then calls in a loop until killed.
 */
const VICTIM_SCRIPT = PYTHON_EVENT_PRELUDE + `
proxy_uri, ready = sys.argv[1:3]
conn = libvirt.open(proxy_uri)
dom = conn.lookupByName("test")
conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lambda *a: None, None)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, lambda *a: None, None)
touch(ready)
while True:
    conn.listAllDomains()
`;

/**
 * Python, a bystander: registers a lifecycle callback, says "ready", and after "go" reports the
 * events it saw (waiting up to 10 s for two, then 0.5 s for any duplicate) and one more call.
 */
const BYSTANDER_SCRIPT = PYTHON_EVENT_PRELUDE + `
proxy_uri, ready, go = sys.argv[1:4]
seen = []
conn = libvirt.open(proxy_uri)
conn.domainEventRegisterAny(
    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    lambda c, d, event, detail, o: seen.append("%s:%d" % (d.name(), event)), None)
touch(ready)
wait_for(go)
deadline = time.time() + 10
while len(seen) < 2 and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
print(json.dumps({"seen": seen, "domains": [d.name() for d in conn.listAllDomains()]}))
conn.close()
`;

Deno.test("shared pool faults: a killed client, idle connections, a killed daemon", async (t) => {
  const libvirtd = await startLibvirtd({
    logLevel: 1,
    // Debug for the daemon's remote dispatcher only: one line per call, register and relay.
    extraConfig: `log_filters = "1:daemon.remote"`,
  });
  const dir = await makeTempDir("shared-pool-faults");
  let virtmux: Virtmux | undefined;
  const spawned: SpawnedProcess[] = [];
  let failed = false;
  /** A step whose failure also prints the tail of virtmux's log. */
  const step = async (name: string, fn: () => void | Promise<void>) => {
    if (!(await t.step(name, fn))) failed = true;
  };
  try {
    const poolSocket = join(dir, "pool.sock");
    const idleSocket = join(dir, "idle.sock");
    virtmux = await startVirtmux(`
[log]
level = "debug"

[limits]
shutdown_grace = 1
connect_timeout = 3

[[upstream]]
name = "${UPSTREAM}"
uri = "${libvirtd.uris.unix}"
share = true
pool_max = 2
idle_timeout = 300

[[upstream]]
name = "idler"
uri = "${libvirtd.uris.tcp}"
share = true
pool_max = 2
idle_timeout = 1

[[listen]]
socket = "${poolSocket}"
upstream = "${UPSTREAM}"

[[listen]]
socket = "${idleSocket}"
upstream = "idler"
`);
    const file = (name: string) => join(dir, name);
    const uri = via(poolSocket);
    const direct = libvirtd.uris.unix;

    await step("a client SIGKILLed mid-call: its callbacks go, others unaffected", async () => {
      // What is asserted: the daemon's own log counts callback registrations and deregistrations
      // (remoteDispatch...EventCallback{Register,Deregister}AnyHelper), so the balance returns to
      // its value before the client came once it is killed; and a destroy/start afterwards is
      // relayed by the daemon to one callback only (the bystander's), which sees its events once.
      const baseline = await daemonCallbacks(libvirtd);
      const bystanderReady = file("bystander-ready");
      const go = file("bystander-go");
      const bystander = runPython(BYSTANDER_SCRIPT, [uri, bystanderReady, go], {
        timeoutMs: 40000,
      });
      try {
        await waitForPath(bystanderReady, { timeoutMs: 20000 });
        assert.equal(await daemonCallbacks(libvirtd), baseline + 1);
        const victimReady = file("victim-ready");
        const victim = spawnProcess(PYTHON, {
          args: ["-c", VICTIM_SCRIPT, uri, victimReady],
          env: { LC_ALL: "C" },
          logFile: file("victim.log"),
          name: "python victim",
        });
        spawned.push(victim);
        await waitForPath(victimReady, { timeoutMs: 20000, process: victim });
        assert.equal(await daemonCallbacks(libvirtd), baseline + 3);
        await new Promise((resolve) => setTimeout(resolve, 100)); // calls are flowing
        await victim.kill({ signal: "SIGKILL" });
        await waitFor(
          "the daemon to drop the killed client's callbacks",
          async () => await daemonCallbacks(libvirtd) === baseline + 1,
          { timeoutMs: 5000 },
        );
        const logOffset = (await Deno.readTextFile(libvirtd.logFile)).length;
        const cycle = await virsh(direct, ["destroy test; start test"]);
        assert.equal(cycle.code, 0, cycle.stderr);
        await Deno.writeTextFile(go, "");
        const result = await bystander;
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout.trim().split("\n").pop()!);
        assert.deepEqual(report.seen, ["test:5", "test:2"]);
        assert.deepEqual(report.domains, ["test"]);
        const relayed = (await Deno.readTextFile(libvirtd.logFile)).slice(logOffset)
          .match(/Relaying domain lifecycle event \d+ \d+, callback \d+/g) ?? [];
        assert.equal(relayed.length, 2, relayed.join("\n"));
      } finally {
        await Deno.writeTextFile(go, "");
        await bystander;
      }
      assert.equal(await daemonCallbacks(libvirtd), baseline);
    });

    await step(
      "idle_timeout = 1: connections close after clients leave, reopen on use",
      async () => {
        const ready = file("steady-ready");
        const stop = file("steady-stop");
        const running = runPython(STEADY_SCRIPT, [via(idleSocket), ready, stop]);
        try {
          await waitForPath(ready, { timeoutMs: 15000 });
          // Calls every 0.2 s keep the connection: still there after 1.5 idle timeouts.
          await new Promise((resolve) => setTimeout(resolve, 1500));
          assert.equal(await daemonClients(libvirtd, "tcp"), 1);
        } finally {
          await Deno.writeTextFile(stop, "");
        }
        const result = await running;
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.trim(), "closed");
        await waitFor(
          "the idle pool to close its daemon connection",
          async () => await daemonClients(libvirtd, "tcp") === 0,
          { timeoutMs: 5000, intervalMs: 100 },
        );
        const again = await virsh(via(idleSocket), ["list", "--all"]);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, /^\s*\d+\s+test\s+running\s*$/m);
        await waitFor(
          "the idle pool to close its daemon connection again",
          async () => await daemonClients(libvirtd, "tcp") === 0,
          { timeoutMs: 5000, intervalMs: 100 },
        );
      },
    );

    const ready = file("killed-ready");
    let report:
      | { failures: ({ ms: number; message: string } | null)[]; closed: Record<string, number> }
      | undefined;
    let killedAt = 0;

    await step("daemon SIGKILLed under busy clients: every call fails within 2 s", async () => {
      const running = runPython(KILLED_SCRIPT, [via(poolSocket), ready, "6"], {
        timeoutMs: 40000,
      });
      try {
        await waitForPath(ready, { timeoutMs: 15000 });
      } finally {
        killedAt = Date.now();
        await libvirtd.kill();
      }
      const result = await running;
      assert.ok(!result.timedOut, "python hung");
      assert.equal(result.code, 0, result.stderr);
      report = JSON.parse(result.stdout.trim().split("\n").pop()!);
      const failures = report!.failures;
      assert.equal(failures.length, 6);
      for (const [i, failure] of failures.entries()) {
        assert.ok(failure !== null, `client ${i} never failed`);
        const ms = failure.ms - killedAt;
        assert.ok(ms < 2000, `client ${i} failed ${ms} ms after the kill: ${failure.message}`);
      }
    });

    await step("every failed call names the upstream or is the connection's end", () => {
      // Calls in flight: "Upstream "pooled" (...) closed the connection"; clients between calls
      // see their connection end, as they would with their own connection to a dead daemon.
      // Never an internal error of the proxy.
      assert.ok(report !== undefined, "no report from the previous step");
      for (const [i, failure] of report.failures.entries()) {
        const message = failure?.message ?? "";
        assert.ok(
          message.includes(`"${UPSTREAM}"`) ||
            /End of file|Broken pipe|Connection reset|client socket is closed/.test(message),
          `client ${i}: ${message}`,
        );
      }
    });

    await step("close callbacks fire for the clients whose calls were in flight", () => {
      assert.ok(report !== undefined, "no report from the previous step");
      for (const [i, failure] of report.failures.entries()) {
        if (!failure?.message.startsWith(`Upstream "${UPSTREAM}"`)) continue;
        assert.ok(`busy${i}` in report.closed, `busy${i}: ${JSON.stringify(report.closed)}`);
      }
    });

    await step("close callbacks fire for every client of the dead pool, busy or idle", () => {
      // DESIGN §4: the close callback is answered locally, and "on upstream loss, the client's
      // socket is closed". Here the daemon is gone and the pool has no connection left.
      assert.ok(report !== undefined, "no report from the previous step");
      const names = [...Array.from({ length: 6 }, (_, i) => `busy${i}`), "idle"];
      const missing = names.filter((name) => !(name in report!.closed));
      assert.deepEqual(missing, [], `close callbacks seen: ${JSON.stringify(report.closed)}`);
    });

    await step("after libvirtd restarts, the pool recovers", async () => {
      await libvirtd.restart();
      let last = "";
      await waitFor("virsh to work through the pool again", async () => {
        const result = await virsh(via(poolSocket), ["list", "--all"], { timeoutMs: 10000 });
        last = result.stderr;
        return result.code === 0 && /^\s*\d+\s+test\s+running\s*$/m.test(result.stdout);
      }, { timeoutMs: 5000, intervalMs: 100 }).catch((error) => {
        throw new Error(`${error.message}: ${last}`);
      });
    });

    await step("SIGTERM: exit 0", async () => {
      const { code } = await virtmux!.stop();
      assert.equal(code, 0);
    });
  } finally {
    if (failed) {
      console.error(`--- virtmux log (tail) ---\n${(await virtmux?.logText())?.slice(-6000)}`);
    }
    for (const process of spawned) await process.kill({ signal: "SIGKILL", graceMs: 1000 });
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
