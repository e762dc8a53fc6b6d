/**
 * virtmux end to end with a shared pool (`share = true`): one private libvirtd and one `virtmux
 * serve` with a read-write and a read-only listener on the same pooled upstream. Real virsh and
 * python-libvirt clients, many at once, talk to the test driver through the pool, while `virt-admin
 * srv-clients-list` counts the connections the daemon really has. Faults (killed clients, a killed
 * daemon, idle connections) are in shared_pool_faults_test.ts.
 *
 * The steps share the daemon and the pool and run in order: the read-only listener, which makes a
 * second pool, comes last so the connection counts before it see only the read-write pool.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type Libvirtd, startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, runCommand, waitForPath } from "./helpers/process.ts";
import { PYTHON_EVENT_PRELUDE, runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

const POOL_MAX = 3;
const UPSTREAM = "pooled";
const DOMAIN_NAME = "virtmux-pooled";

/** A client URI that reaches the test driver through the virtmux socket `socket`. */
function via(socket: string): string {
  return `test+unix:///default?socket=${socket}`;
}

/** One row of `virt-admin srv-clients-list libvirtd`. */
interface DaemonClient {
  id: number;
  transport: string;
}

/** The daemon's clients, by id, from virt-admin (a real count of upstream connections). */
async function daemonClients(libvirtd: Libvirtd): Promise<DaemonClient[]> {
  const result = await runCommand("virt-admin", [
    "-c",
    `libvirtd:///system?socket=${libvirtd.adminSocket}`,
    "srv-clients-list",
    "libvirtd",
  ], { env: { LC_ALL: "C", HOME: libvirtd.dir } });
  assert.equal(result.code, 0, result.stderr);
  return [...result.stdout.matchAll(/^\s*(\d+)\s+(\S+)\s/gm)].map((m) => ({
    id: Number(m[1]),
    transport: m[2],
  }));
}

/** Samples `libvirtd.clientCount()` every `intervalMs` until `stop()`, which gives every sample. */
function sampleClientCount(
  libvirtd: Libvirtd,
  intervalMs: number,
): { stop: () => Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(await libvirtd.clientCount());
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

/**
 * Python: N threads, each with its own connection through the proxy and a lifecycle callback whose
 * opaque is its index; once all are open, "ready"; after "go" they make calls in a loop while a
 * direct connection destroys and starts "test". Prints JSON: the events each client saw, clients
 * that saw an event arrive on another client's connection, call counts and errors.
 */
const MANY_CLIENTS_SCRIPT = PYTHON_EVENT_PRELUDE + `
proxy_uri, direct_uri, ready, go = sys.argv[1:5]
n = int(sys.argv[5])
lock = threading.Lock()
conns = [None] * n
seen = [[] for _ in range(n)]
strays, errors, calls = [], [], [0] * n
opened, started, stop = threading.Barrier(n + 1), threading.Event(), threading.Event()
def callback(conn, dom, event, detail, index):
    with lock:
        if conn is not conns[index]:
            strays.append(index)
        seen[index].append("%s:%d" % (dom.name(), event))
def client(i):
    try:
        conns[i] = libvirt.open(proxy_uri)
        conns[i].domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback, i)
    except libvirt.libvirtError as e:
        errors.append("%d open: %s" % (i, e.get_error_message()))
    opened.wait()
    started.wait()
    while conns[i] is not None and not stop.is_set():
        try:
            conns[i].listAllDomains()
            conns[i].lookupByName("test").info()
            calls[i] += 1
        except libvirt.libvirtError as e:
            errors.append("%d call: %s" % (i, e.get_error_message()))
            return
        time.sleep(0.005)
threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
opened.wait()
touch(ready)
wait_for(go)
started.set()
time.sleep(0.2)
direct = libvirt.open(direct_uri)
dom = direct.lookupByName("test")
dom.destroy()
dom.create()
want = ["test:%d" % libvirt.VIR_DOMAIN_EVENT_STOPPED, "test:%d" % libvirt.VIR_DOMAIN_EVENT_STARTED]
deadline = time.time() + 20
while time.time() < deadline:
    with lock:
        if all(len(s) >= 2 for s in seen) and min(calls) >= 3:
            break
    time.sleep(0.05)
time.sleep(0.5)  # a duplicate would arrive by now
stop.set()
for t in threads:
    t.join()
print(json.dumps({"want": want, "seen": seen, "strays": strays, "calls": calls, "errors": errors}))
for c in conns:
    if c is not None:
        c.close()
direct.close()
`;

/**
 * Python: N threads, each with its own connection through the proxy, make calls in a loop from
 * "ready" until "stop". Prints JSON: call counts and errors.
 */
const BUSY_CLIENTS_SCRIPT = PYTHON_EVENT_PRELUDE + `
proxy_uri, ready, stop = sys.argv[1:4]
n = int(sys.argv[4])
errors, calls = [], [0] * n
opened = threading.Barrier(n + 1)
def client(i):
    conn = libvirt.open(proxy_uri)
    opened.wait()
    while not os.path.exists(stop):
        try:
            conn.listAllDomains()
            conn.lookupByName("test").info()
            calls[i] += 1
        except libvirt.libvirtError as e:
            errors.append("%d: %s" % (i, e.get_error_message()))
            return
    conn.close()
threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
opened.wait()
touch(ready)
for t in threads:
    t.join()
print(json.dumps({"calls": calls, "errors": errors}))
`;

/** Python: setIdentity through the proxy is refused; the connection still works afterwards. */
const IDENTITY_SCRIPT = PYTHON_EVENT_PRELUDE + `
conn = libvirt.open(sys.argv[1])
try:
    conn.setIdentity({libvirt.VIR_CONNECT_IDENTITY_USER_NAME: "mallory"})
    print("accepted")
except libvirt.libvirtError as e:
    print("refused", e.get_error_code(), e.get_error_message())
print("domains", ",".join(d.name() for d in conn.listAllDomains()))
conn.close()
`;

/** Python: a read-write open holds the only pool; a read-only one must wait until it is free. */
const MAX_POOLS_SCRIPT = `
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
uri = sys.argv[1]
rw = libvirt.open(uri)
rw.getLibVersion()
try:
    ro = libvirt.openReadOnly(uri)
    ro.getLibVersion()
    print("read-only ok")
except libvirt.libvirtError as e:
    print("read-only error", e.get_error_message())
again = libvirt.open(uri)
again.getLibVersion()
print("same kind ok")
rw.close()
again.close()
ro = libvirt.openReadOnly(uri)
ro.getLibVersion()
print("read-only after the others left ok")
ro.close()
`;

Deno.test("shared pool: many real clients over a few upstream connections", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("shared-pool");
  let virtmux: Virtmux | undefined;
  let failed = false;
  /** A step whose failure also prints the tail of virtmux's log. */
  const step = async (name: string, fn: () => void | Promise<void>) => {
    if (!(await t.step(name, fn))) failed = true;
  };
  try {
    const rwSocket = join(dir, "pool.sock");
    const roSocket = join(dir, "pool-ro.sock");
    const onePoolSocket = join(dir, "one-pool.sock");
    virtmux = await startVirtmux(`
[log]
level = "debug"

[limits]
shutdown_grace = 1

[[upstream]]
name = "${UPSTREAM}"
uri = "${libvirtd.uris.unix}"
share = true
pool_max = ${POOL_MAX}
max_inflight_per_connection = 5
idle_timeout = 300

[[listen]]
socket = "${rwSocket}"
upstream = "${UPSTREAM}"

[[listen]]
socket = "${roSocket}"
upstream = "${UPSTREAM}"
readonly = true

[[upstream]]
name = "one-pool"
uri = "${libvirtd.uris.unix}"
share = true
max_pools = 1

[[listen]]
socket = "${onePoolSocket}"
upstream = "one-pool"
`);
    const uri = via(rwSocket);
    const direct = libvirtd.uris.unix;
    const file = (name: string) => join(dir, name);

    await step("virsh list --all, dominfo", async () => {
      const listed = await virsh(uri, ["list", "--all"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /^\s*\d+\s+test\s+running\s*$/m);
      const info = await virsh(uri, ["dominfo", "test"]);
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, /^Name:\s+test$/m);
      assert.match(info.stdout, /^State:\s+running$/m);
    });

    await step("virsh destroy, start and domstate in one session", async () => {
      const result = await virsh(uri, ["destroy test; domstate test; start test; domstate test"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Domain 'test' destroyed/);
      assert.match(result.stdout, /Domain 'test' started/);
      const states = result.stdout.split("\n").map((l) => l.trim()).filter((l) =>
        l === "shut off" || l === "running"
      );
      assert.deepEqual(states, ["shut off", "running"]);
    });

    await step("virsh define and undefine a new domain", async () => {
      const xml = file("domain.xml");
      await Deno.writeTextFile(
        xml,
        `<domain type='test'><name>${DOMAIN_NAME}</name><memory>8192</memory>` +
          `<os><type>hvm</type></os></domain>\n`,
      );
      const result = await virsh(uri, [
        `define ${xml}; dominfo ${DOMAIN_NAME}; undefine ${DOMAIN_NAME}; list --all --name`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`Domain '${DOMAIN_NAME}' defined`));
      assert.match(result.stdout, /^State:\s+shut off$/m);
      assert.match(result.stdout, new RegExp(`Domain '${DOMAIN_NAME}' has been undefined`));
    });

    await step(
      "200 sequential virsh runs reuse the warm pool: no new daemon connection",
      async () => {
        const before = await daemonClients(libvirtd);
        assert.ok(before.length >= 1 && before.length <= POOL_MAX, JSON.stringify(before));
        const sampler = sampleClientCount(libvirtd, 100);
        let samples: number[];
        try {
          for (let i = 0; i < 200; i++) {
            const result = await virsh(uri, ["list", "--all"]);
            assert.equal(result.code, 0, `run ${i}: ${result.stderr}`);
            assert.match(result.stdout, /^\s*\d+\s+test\s+running\s*$/m, `run ${i}`);
          }
        } finally {
          samples = await sampler.stop();
        }
        const after = await daemonClients(libvirtd);
        // The same daemon clients (ids are never reused) before and after: no connection was made.
        assert.deepEqual(after, before);
        assert.ok(samples.length > 0);
        assert.ok(Math.max(...samples) <= before.length, `counts seen: ${samples}`);
      },
    );

    await step("50 python clients each get exactly their own events; calls succeed", async () => {
      const ready = file("many-ready");
      const go = file("many-go");
      const running = runPython(MANY_CLIENTS_SCRIPT, [uri, direct, ready, go, "50"], {
        timeoutMs: 60000,
      });
      let samples: number[] = [];
      try {
        await waitForPath(ready, { timeoutMs: 30000 });
        // All 50 are connected and registered, and wait for "go".
        const connected = await libvirtd.clientCount();
        assert.ok(connected >= 1 && connected <= POOL_MAX, `${connected} daemon clients`);
        const sampler = sampleClientCount(libvirtd, 20);
        try {
          await Deno.writeTextFile(go, "");
          await running;
        } finally {
          samples = await sampler.stop();
        }
      } finally {
        await Deno.writeTextFile(go, "");
        await running;
      }
      const result = await running;
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout.trim().split("\n").pop()!);
      assert.deepEqual(report.errors, []);
      assert.deepEqual(report.strays, []);
      for (let i = 0; i < 50; i++) {
        assert.deepEqual(report.seen[i], report.want, `client ${i}`);
        assert.ok(report.calls[i] >= 3, `client ${i} made ${report.calls[i]} calls`);
      }
      // The pool's connections plus the script's one direct connection.
      assert.ok(samples.length > 0);
      assert.ok(Math.max(...samples) <= POOL_MAX + 1, `counts seen: ${samples}`);
    });

    await step("virsh screenshot while 20 clients make calls: identical to direct", async () => {
      const directShot = file("direct.ppm");
      const shot = await virsh(direct, ["screenshot", "test", directShot]);
      assert.equal(shot.code, 0, shot.stderr);
      const want = await Deno.readFile(directShot);
      assert.ok(want.length > 1000, `screenshot of ${want.length} bytes`);
      const ready = file("busy-ready");
      const stop = file("busy-stop");
      const running = runPython(BUSY_CLIENTS_SCRIPT, [uri, ready, stop, "20"]);
      try {
        await waitForPath(ready, { timeoutMs: 20000 });
        for (let i = 0; i < 3; i++) {
          const path = file(`pooled-${i}.ppm`);
          const result = await virsh(uri, ["screenshot", "test", path]);
          assert.equal(result.code, 0, result.stderr);
          assert.deepEqual(await Deno.readFile(path), want, `screenshot ${i}`);
        }
      } finally {
        await Deno.writeTextFile(stop, "");
      }
      const result = await running;
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout.trim().split("\n").pop()!);
      assert.deepEqual(report.errors, []);
      assert.ok(report.calls.every((n: number) => n >= 1), `calls: ${report.calls}`);
    });

    await step("CONNECT_SET_IDENTITY is refused; the connection still works", async () => {
      const result = await runPython(IDENTITY_SCRIPT, [uri]);
      assert.equal(result.code, 0, result.stderr);
      // VIR_ERR_OPERATION_DENIED is 29.
      assert.match(
        result.stdout,
        /^refused 29 Setting the identity of a shared upstream connection is not allowed$/m,
      );
      assert.match(result.stdout, /^domains test$/m);
    });

    await step("read-only listener: destroy is refused by the daemon, list works", async () => {
      const ro = via(roSocket);
      const destroyed = await virsh(ro, ["destroy", "test"]);
      assert.notEqual(destroyed.code, 0, destroyed.stdout);
      assert.match(destroyed.stderr, /operation forbidden: read only access prevents/);
      const listed = await virsh(ro, ["list", "--all"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /^\s*\d+\s+test\s+running\s*$/m);
      const state = await virsh(direct, ["domstate", "test"]);
      assert.equal(state.stdout.trim(), "running");
    });

    await step(
      "max_pools = 1: a second kind of open is refused until the first pool is free",
      async () => {
        const py = await runPython(MAX_POOLS_SCRIPT, [via(onePoolSocket)]);
        assert.equal(py.code, 0, py.stderr);
        assert.match(
          py.stdout,
          /^read-only error virtmux keeps at most 1 pools for upstream "one-pool" \(max_pools\), one per distinct name and read-only flag opened, and all are in use$/m,
          py.stdout,
        );
        assert.match(py.stdout, /^same kind ok$/m);
        assert.match(py.stdout, /^read-only after the others left ok$/m);
      },
    );

    await step("SIGTERM: exit 0", async () => {
      const { code } = await virtmux!.stop();
      assert.equal(code, 0);
    });
  } finally {
    if (failed) {
      console.error(`--- virtmux log (tail) ---\n${(await virtmux?.logText())?.slice(-6000)}`);
    }
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
