/**
 * The upstream going away under load, and SIGHUP reloads, end to end: one private libvirtd and
 * one `virtmux serve` per test, python-libvirt clients looping calls through the proxy.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, waitFor } from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

/** A client URI that reaches the test driver through the virtmux socket `socket`. */
function via(socket: string): string {
  return `test+unix:///default?socket=${socket}`;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Python: N threads per URI, each with its own connection, loop getLibVersion until one fails;
 * a ready file is written once every thread has made a call. Prints, per thread, the wall-clock
 * time of its exception and the message.
 */
const LOAD_SCRIPT = `
import sys, threading, time, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
ready_file, per_uri, uris = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
results = []
lock = threading.Lock()
started = threading.Barrier(per_uri * len(uris) + 1)
def worker(uri, index):
    c = libvirt.open(uri)
    c.getLibVersion()
    started.wait()
    calls = 0
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            c.getLibVersion()
            calls += 1
        except libvirt.libvirtError as e:
            with lock:
                results.append((uri, index, time.time(), calls, e.get_error_message()))
            return
    with lock:
        results.append((uri, index, None, calls, "no error"))
threads = [threading.Thread(target=worker, args=(u, i)) for u in uris for i in range(per_uri)]
for t in threads:
    t.start()
started.wait()
open(ready_file, "w").close()
for t in threads:
    t.join()
for uri, index, at, calls, message in results:
    print("result", "shared" if "shr" in uri else "dedicated", index, "%.3f" % at if at else "none", calls, message.replace("\\n", " "))
`;

Deno.test("upstream killed under load: every in-flight call fails at once", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("kill");
  let virtmux: Virtmux | undefined;
  try {
    const ded = join(dir, "ded.sock");
    const shr = join(dir, "shr.sock");
    virtmux = await startVirtmux(`
[limits]
shutdown_grace = 1
connect_timeout = 2

[[upstream]]
name = "ded"
uri = "${libvirtd.uris.unix}"

[[upstream]]
name = "shr"
uri = "${libvirtd.uris.unix}"
share = true
pool_max = 2

[[listen]]
socket = "${ded}"
upstream = "ded"

[[listen]]
socket = "${shr}"
upstream = "shr"
`);

    await t.step("10 threads over a dedicated and a shared listener, then SIGKILL", async () => {
      const ready = join(dir, "ready");
      const load = runPython(LOAD_SCRIPT, [ready, "5", via(ded), via(shr)], { timeoutMs: 40000 });
      await waitFor("the python threads", () => exists(ready), { timeoutMs: 15000 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const killedAt = Date.now() / 1000;
      await libvirtd.kill();
      const result = await load;
      assert.equal(result.code, 0, result.stderr);
      const rows = result.stdout.split("\n").filter((l) => l.startsWith("result "));
      assert.equal(rows.length, 10, result.stdout);
      let last = 0;
      for (const row of rows) {
        const [, kind, , at, calls, ...message] = row.split(" ");
        assert.notEqual(at, "none", `a ${kind} thread never saw an error: ${row}`);
        assert.ok(Number(calls) > 0, `a ${kind} thread made calls before the kill: ${row}`);
        last = Math.max(last, Number(at));
        assert.ok(message.join(" ").length > 0);
      }
      const delay = last - killedAt;
      assert.ok(delay < 1, `the last thread failed ${delay.toFixed(3)} s after the kill`);
      // Dedicated clients are told which upstream went away.
      assert.match(result.stdout, /result dedicated .*Upstream "ded"/, result.stdout);
    });

    await t.step("after libvirtd.restart(), new clients work on both listeners", async () => {
      await libvirtd.restart();
      for (const socket of [ded, shr]) {
        let last = "";
        await waitFor(`a working client on ${socket}`, async () => {
          const result = await virsh(via(socket), ["list", "--all"]);
          last = result.stderr;
          return result.code === 0 && /\btest\s+running\b/.test(result.stdout);
        }, { timeoutMs: 15000, intervalMs: 200 }).catch((error) => {
          throw new Error(`${(error as Error).message}: ${last}`);
        });
      }
      const py = await runPython(
        `
import sys, libvirt
for uri in sys.argv[1:]:
    c = libvirt.open(uri)
    print("ok", c.getLibVersion() > 0, len(c.listAllDomains()))
    c.close()
`,
        [via(ded), via(shr)],
      );
      assert.equal(py.code, 0, py.stderr);
      assert.equal(py.stdout, "ok True 1\nok True 1\n");
    });
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});

/** Python: loop calls on one connection until a stop file appears; print calls and errors. */
const STEADY_SCRIPT = `
import os, sys, time, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
uri, ready_file, stop_file = sys.argv[1:4]
c = libvirt.open(uri)
calls, errors = 0, []
open(ready_file, "w").close()
deadline = time.time() + 30
while not os.path.exists(stop_file) and time.time() < deadline:
    try:
        c.getLibVersion()
        c.listAllDomains()
        calls += 1
    except libvirt.libvirtError as e:
        errors.append(e.get_error_message())
        if len(errors) > 5:
            break
        time.sleep(0.05)
print("calls", calls)
print("errors", len(errors), " | ".join(errors))
`;

Deno.test("SIGHUP reloads listeners without disturbing clients", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("reload");
  let virtmux: Virtmux | undefined;
  try {
    const steady = join(dir, "steady.sock");
    const removed = join(dir, "removed.sock");
    const added = join(dir, "new", "added.sock");
    const upstreams = `
[[upstream]]
name = "ded"
uri = "${libvirtd.uris.unix}"

[[upstream]]
name = "shr"
uri = "${libvirtd.uris.unix}"
share = true
`;
    const before = `[limits]
shutdown_grace = 1
${upstreams}
[[listen]]
socket = "${steady}"
upstream = "shr"

[[listen]]
socket = "${removed}"
upstream = "ded"
`;
    const after = `[limits]
shutdown_grace = 1
${upstreams}
[[listen]]
socket = "${steady}"
upstream = "shr"

[[listen]]
socket = "${added}"
upstream = "ded"
deny_procedures = ["DOMAIN_DESTROY"]
`;
    virtmux = await startVirtmux(before);
    const vm = virtmux;
    const ready = join(dir, "ready");
    const stop = join(dir, "stop");
    const readyOld = join(dir, "ready-old");
    const client = runPython(STEADY_SCRIPT, [via(steady), ready, stop], { timeoutMs: 40000 });
    // A client of the listener the reload removes: it stays until it leaves.
    const oldClient = runPython(STEADY_SCRIPT, [via(removed), readyOld, stop], {
      timeoutMs: 40000,
    });
    try {
      await waitFor("the steady clients", () => exists(ready) && exists(readyOld), {
        timeoutMs: 15000,
      });

      await t.step("a valid config: one listener added, one removed", async () => {
        await Deno.writeTextFile(vm.configPath, after);
        Deno.kill(vm.pid, "SIGHUP");
        await waitFor("the new socket", () => exists(added), { timeoutMs: 10000 });
        await waitFor("the removed socket to go", () => !exists(removed), { timeoutMs: 10000 });
        const list = await virsh(via(added), ["list; destroy test"]);
        assert.match(list.stdout, /\btest\s+running\b/, list.stderr);
        assert.match(
          list.stderr,
          new RegExp(`Procedure DOMAIN_DESTROY is denied by the policy of listener "${added}"`),
        );
        const gone = await virsh(via(removed), ["list"]);
        assert.notEqual(gone.code, 0);
        assert.match(gone.stderr, /Failed to connect socket|No such file/, gone.stderr);
        await waitFor(
          "the reload log line",
          async () => /Config reloaded.*listeners=2 problems=0/.test(await vm.logText()),
          {
            timeoutMs: 5000,
          },
        );
      });

      await t.step(
        "an invalid config is rejected with FILE:LINE:COL, all keeps working",
        async () => {
          await Deno.writeTextFile(
            vm.configPath,
            after + `\n[[listen]]\nsocket = "${join(dir, "bad.sock")}"\nupstream = "nope"\n`,
          );
          Deno.kill(vm.pid, "SIGHUP");
          const file = vm.configPath.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&");
          await waitFor(
            "the rejection in the log",
            async () =>
              new RegExp(`Config reload rejected.*${file}:\\d+:\\d+: `).test(await vm.logText()),
            {
              timeoutMs: 5000,
            },
          );
          assert.match(await vm.logText(), /Keeping the previous config/);
          assert.equal(exists(join(dir, "bad.sock")), false);
          for (const socket of [steady, added]) {
            const list = await virsh(via(socket), ["list"]);
            assert.equal(list.code, 0, list.stderr);
          }
          // A second SIGHUP with the good file back applies it again.
          await Deno.writeTextFile(vm.configPath, after);
          Deno.kill(vm.pid, "SIGHUP");
          await waitFor(
            "a second reload",
            async () => ((await vm.logText()).match(/Config reloaded/g)?.length ?? 0) >= 2,
            {
              timeoutMs: 5000,
            },
          );
        },
      );

      await t.step("the client on the unchanged listener saw no error", async () => {
        await Deno.writeTextFile(stop, "");
        const result = await client;
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^errors 0 $/m, result.stdout);
        const calls = Number(/^calls (\d+)$/m.exec(result.stdout)?.[1]);
        assert.ok(calls > 10, `only ${calls} calls`);
      });

      await t.step("the client of the removed listener kept working too", async () => {
        const result = await oldClient;
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^errors 0 $/m, result.stdout);
      });
    } finally {
      await Deno.writeTextFile(stop, "");
      await Promise.all([client, oldClient]);
    }
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
