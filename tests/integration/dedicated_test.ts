/**
 * virtmux end to end in dedicated mode (`share = false`): one private libvirtd and one
 * `virtmux serve` for the whole file, with a listener per upstream (unix and tcp), a read-only
 * listener and one whose upstream cannot be reached. Real virsh and python-libvirt clients talk
 * to the test driver through the proxy.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort } from "./helpers/ports.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, isAlive, waitFor } from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux } from "./helpers/virtmux.ts";

/** A client URI that reaches the test driver through the virtmux socket `socket`. */
function via(socket: string): string {
  return `test+unix:///default?socket=${socket}`;
}

/** Python: 5 connections through the proxy each get lifecycle events for a destroy and a start. */
const EVENTS_SCRIPT = `
import sys, threading, time, libvirt
proxy_uri, direct_uri = sys.argv[1], sys.argv[2]
libvirt.virEventRegisterDefaultImpl()
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
seen = {i: [] for i in range(5)}
lock = threading.Lock()
def callback(conn, dom, event, detail, index):
    with lock:
        seen[index].append((dom.name(), event))
conns = []
for i in range(5):
    c = libvirt.open(proxy_uri)
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback, i)
    conns.append(c)
direct = libvirt.open(direct_uri)
dom = direct.lookupByName("test")
dom.destroy()
dom.create()
want = [("test", libvirt.VIR_DOMAIN_EVENT_STOPPED), ("test", libvirt.VIR_DOMAIN_EVENT_STARTED)]
deadline = time.time() + 10
while time.time() < deadline:
    with lock:
        if all(seen[i] == want for i in range(5)):
            break
    time.sleep(0.05)
with lock:
    for i in range(5):
        print(i, " ".join("%s:%d" % e for e in seen[i]))
direct.close()
for c in conns:
    c.close()
`;

/** Python: basic calls through the proxy. */
const BASIC_SCRIPT = `
import sys, libvirt
c = libvirt.open(sys.argv[1])
print("version", c.getLibVersion())
print("domains", ",".join(sorted(d.name() for d in c.listAllDomains())))
info = c.lookupByName("test").info()
print("state", info[0], "memory", info[1], "vcpus", info[3])
c.close()
`;

/**
 * Python: open through the proxy, say so, wait for a go file, then make one call and report how
 * it ended and how long it took.
 */
const HOLD_SCRIPT = `
import os, sys, time, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
c = libvirt.open(sys.argv[1])
c.listAllDomains()
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
began = time.time()
try:
    c.listAllDomains()
    print("ok")
except libvirt.libvirtError as e:
    print("error", round(time.time() - began, 2), e.get_error_message())
`;

const DOMAIN_NAME = "virtmux-defined";

Deno.test("dedicated mode: virsh and python-libvirt through virtmux", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("dedicated");
  let virtmux: Awaited<ReturnType<typeof startVirtmux>> | undefined;
  try {
    const sockets = {
      unix: join(dir, "unix.sock"),
      tcp: join(dir, "tcp.sock"),
      ro: join(dir, "ro.sock"),
      down: join(dir, "down.sock"),
    };
    const closedPort = freePort();
    const downUri = `test+tcp://127.0.0.1:${closedPort}/default`;
    virtmux = await startVirtmux(`
[log]
level = "debug"

[limits]
shutdown_grace = 1
connect_timeout = 3

[[upstream]]
name = "via-unix"
uri = "${libvirtd.uris.unix}"
share = false

[[upstream]]
name = "via-tcp"
uri = "${libvirtd.uris.tcp}"
share = false

[[upstream]]
name = "nobody-home"
uri = "${downUri}"
share = false

[[listen]]
socket = "${sockets.unix}"
upstream = "via-unix"

[[listen]]
socket = "${sockets.tcp}"
upstream = "via-tcp"

[[listen]]
socket = "${sockets.ro}"
upstream = "via-unix"
readonly = true

[[listen]]
socket = "${sockets.down}"
upstream = "nobody-home"
`);
    const direct = libvirtd.uris.unix;

    // The screenshot the daemon gives a direct client, to compare with the proxied ones.
    const directShot = join(dir, "direct.ppm");
    const shot = await virsh(direct, ["screenshot", "test", directShot]);
    assert.equal(shot.code, 0, shot.stderr);
    const directBytes = await Deno.readFile(directShot);
    assert.ok(directBytes.length > 1000, `screenshot of ${directBytes.length} bytes`);

    const domainXml = join(dir, "domain.xml");
    await Deno.writeTextFile(
      domainXml,
      `<domain type='test'><name>${DOMAIN_NAME}</name><memory>8192</memory>` +
        `<os><type>hvm</type></os></domain>\n`,
    );

    for (const upstream of ["unix", "tcp"] as const) {
      const uri = via(sockets[upstream]);

      await t.step(`${upstream}: virsh list --all shows "test" running`, async () => {
        const result = await virsh(uri, ["list", "--all"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
      });

      await t.step(`${upstream}: virsh dominfo test`, async () => {
        const result = await virsh(uri, ["dominfo", "test"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^Name:\s+test$/m);
        assert.match(result.stdout, /^State:\s+running$/m);
      });

      await t.step(`${upstream}: destroy, start and domstate in one virsh session`, async () => {
        const result = await virsh(uri, ["destroy test; domstate test; start test; domstate test"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /Domain 'test' destroyed/);
        assert.match(result.stdout, /Domain 'test' started/);
        const states = result.stdout.split("\n").map((l) => l.trim()).filter((l) =>
          l === "shut off" || l === "running"
        );
        assert.deepEqual(states, ["shut off", "running"]);
      });

      await t.step(`${upstream}: define and undefine a new domain`, async () => {
        const result = await virsh(uri, [
          `define ${domainXml}; list --all --name; dominfo ${DOMAIN_NAME}; ` +
          `undefine ${DOMAIN_NAME}; list --all --name`,
        ]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`Domain '${DOMAIN_NAME}' defined`));
        assert.match(result.stdout, new RegExp(`^Name:\\s+${DOMAIN_NAME}$`, "m"));
        assert.match(result.stdout, /^State:\s+shut off$/m);
        assert.match(result.stdout, new RegExp(`Domain '${DOMAIN_NAME}' has been undefined`));
        const names = result.stdout.split("\n").map((l) => l.trim());
        assert.equal(names.filter((n) => n === DOMAIN_NAME).length, 1, result.stdout);
      });

      await t.step(
        `${upstream}: screenshot (a stream) is byte-identical to a direct one`,
        async () => {
          const file = join(dir, `${upstream}.ppm`);
          const result = await virsh(uri, ["screenshot", "test", file]);
          assert.equal(result.code, 0, result.stderr);
          const bytes = await Deno.readFile(file);
          assert.equal(bytes.length, directBytes.length);
          assert.deepEqual(bytes, directBytes);
        },
      );

      await t.step(`${upstream}: python-libvirt open, version, domains, info`, async () => {
        const result = await runPython(BASIC_SCRIPT, [uri]);
        assert.equal(result.code, 0, result.stderr);
        const version = Number(/^version (\d+)$/m.exec(result.stdout)?.[1]);
        assert.equal(Math.floor(version / 1000000), 9, result.stdout);
        assert.match(result.stdout, /^domains test$/m);
        // VIR_DOMAIN_RUNNING is 1; the test domain has 8 GiB (in KiB) and 2 vCPUs.
        assert.match(result.stdout, /^state 1 memory 8388608 vcpus 2$/m);
      });

      await t.step(`${upstream}: 5 python connections each get lifecycle events`, async () => {
        const result = await runPython(EVENTS_SCRIPT, [uri, direct]);
        assert.equal(result.code, 0, result.stderr);
        const lines = result.stdout.trim().split("\n");
        // VIR_DOMAIN_EVENT_STOPPED 5, VIR_DOMAIN_EVENT_STARTED 2.
        assert.deepEqual(lines, [0, 1, 2, 3, 4].map((i) => `${i} test:5 test:2`));
      });
    }

    await t.step("read-only listener: destroy is refused by the daemon, list works", async () => {
      const uri = via(sockets.ro);
      const destroyed = await virsh(uri, ["destroy", "test"]);
      assert.notEqual(destroyed.code, 0, destroyed.stdout);
      assert.match(destroyed.stderr, /operation forbidden: read only access prevents/);
      const listed = await virsh(uri, ["list", "--all"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /^\s*1\s+test\s+running\s*$/m);
      const state = await virsh(direct, ["domstate", "test"]);
      assert.equal(state.stdout.trim(), "running");
    });

    await t.step(
      "unreachable upstream: virsh fails naming the upstream, URI and cause",
      async () => {
        const result = await virsh(via(sockets.down), ["list", "--all"], { timeoutMs: 15000 });
        assert.notEqual(result.code, 0);
        assert.ok(!result.timedOut, "virsh hung");
        assert.match(result.stderr, /"nobody-home"/);
        assert.ok(result.stderr.includes(downUri), result.stderr);
        assert.match(result.stderr, /Connection refused/);
      },
    );

    await t.step("upstream killed under a python client: its next call fails fast", async () => {
      const opened = join(dir, "opened");
      const go = join(dir, "go");
      const running = runPython(HOLD_SCRIPT, [via(sockets.unix), opened, go], {
        timeoutMs: 20000,
      });
      try {
        await waitFor("the python client's open", async () => {
          try {
            await Deno.stat(opened);
            return true;
          } catch {
            return false;
          }
        }, { timeoutMs: 15000 });
        const pid = libvirtd.pid;
        await libvirtd.kill();
        assert.ok(!isAlive(pid));
      } finally {
        await Deno.writeTextFile(go, "");
      }
      const result = await running;
      assert.ok(!result.timedOut, "python hung");
      assert.equal(result.code, 0, result.stderr);
      const match = /^error ([\d.]+) (.*)$/m.exec(result.stdout);
      assert.ok(match, `expected an error, got: ${result.stdout}`);
      assert.ok(Number(match[1]) < 5, `the call took ${match[1]} s`);

      await libvirtd.restart();
      const again = await virsh(via(sockets.unix), ["list", "--all"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^\s*1\s+test\s+running\s*$/m);
    });

    await t.step("virtmux stops on SIGTERM with exit 0 and removes its sockets", async () => {
      const { code } = await virtmux!.stop();
      assert.equal(code, 0);
      for (const socket of Object.values(sockets)) {
        await assert.rejects(Deno.lstat(socket), Deno.errors.NotFound, socket);
      }
    });
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
