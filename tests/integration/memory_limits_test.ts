/**
 * Bounded memory under hostile clients (issue 11), through a real virtmux in front of a real
 * libvirtd, in both modes: a big frame before CONNECT_OPEN is refused with an error the client
 * sees; many concurrent big partial frames keep virtmux's RSS within its idle RSS plus
 * `max_buffered_bytes` (16 MiB here) plus 10% plus 12 MiB for the sessions and heap growth, while
 * python-libvirt clients get every answer; a trickling big frame is closed by the rate rule; and
 * a domain XML of 3 MiB (`virsh define`) and a screenshot stream work while attackers keep the
 * budget under pressure.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader } from "../../src/wire/header.ts";
import { MessageStatus, RemoteProc } from "../../src/wire/constants.ts";
import { frame, FrameSource } from "../_helpers/frames.ts";
import {
  openedConnection,
  pushBigFrame,
  rssBytes,
  RssSampler,
  waitForClose,
  writeAll,
} from "./helpers/hostile_clients.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, waitFor } from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

const MIB = 1 << 20;
/** The budget under test: small, so that the test runs in seconds. */
const BUDGET = 16 * MIB;
/** Each attacker's frame: 2 MiB, of which all but 64 KiB is sent. */
const ATTACK_FRAME = 2 * MIB;
const ATTACKERS = 40;
/** A granted 2 MiB frame must arrive within 1 s + 2 MiB at 2 MiB/s = 2 s. */
const MIN_FRAME_RATE = 2 * MIB;
/** What 40 more sessions, 8 python clients and the heap's growth may add to idle + budget + 10%. */
const SLACK = 12 * MIB;

/** python-libvirt: THREADS clients, each opens and makes CALLS calls; prints counts. */
const PYTHON_GOOD = `
import json, sys, threading, libvirt
libvirt.registerErrorHandler(lambda *args: None, None)
uri, threads_n, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lock = threading.Lock()
ok, errors = [0], []
def client():
    try:
        conn = libvirt.open(uri)
        try:
            for i in range(calls):
                assert conn.getLibVersion() > 0
                assert conn.lookupByName("test").name() == "test"
                with lock:
                    ok[0] += 1
        finally:
            conn.close()
    except Exception as error:
        with lock:
            errors.append(str(error))
threads = [threading.Thread(target=client) for _ in range(threads_n)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"ok": ok[0], "errors": errors[:5]}))
`;

/** A domain XML of about `bytes` bytes: the test driver keeps the description as given. */
function bigDomainXml(name: string, bytes: number): string {
  return `<domain type="test"><name>${name}</name><memory>1024</memory>` +
    `<description>${"x".repeat(bytes)}</description><os><type>hvm</type></os></domain>`;
}

Deno.test("virtmux's memory stays bounded under hostile clients", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("memory-limits");
  const sockets = { dedicated: join(dir, "dedicated.sock"), shared: join(dir, "shared.sock") };
  let virtmux: Virtmux | undefined;
  try {
    virtmux = await startVirtmux(`
[log]
level = "info"

[limits]
max_message_bytes = ${4 * MIB + 4}
max_buffered_bytes = ${BUDGET}
min_frame_rate = ${MIN_FRAME_RATE}
shutdown_grace = 1

[[upstream]]
name = "dedicated"
uri = "${libvirtd.uris.unix}"
share = false

[[upstream]]
name = "shared"
uri = "${libvirtd.uris.unix}"
share = true

[[listen]]
socket = "${sockets.dedicated}"
upstream = "dedicated"

[[listen]]
socket = "${sockets.shared}"
upstream = "shared"
`);
    const proxy = virtmux;
    const body = new Uint8Array(4 * MIB);

    for (const mode of ["dedicated", "shared"] as const) {
      const socket = sockets[mode];
      const uri = `test+unix:///default?socket=${socket}`;

      await t.step(`${mode}: a big frame before CONNECT_OPEN gets an error and EOF`, async () => {
        const conn = await Deno.connect({ transport: "unix", path: socket });
        try {
          await writeAll(
            conn,
            frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 3, length: MIB }),
          );
          const frames = new FrameSource(conn);
          const reply = await frames.next();
          assert.ok(reply, "no reply before EOF");
          assert.equal(readHeader(reply).status, MessageStatus.ERROR);
          assert.equal(readHeader(reply).serial, 3);
          assert.match(
            decodeErrorReply(reply).message ?? "",
            /length 1048576 exceeds the limit of 69632 bytes before CONNECT_OPEN has succeeded/,
          );
          assert.equal(await frames.next(), null);
        } finally {
          conn.close();
        }
        // virsh with an open name of 100 kB (an unknown URI parameter goes into the name).
        const long = await virsh(`${uri}&pad=${"p".repeat(100_000)}`, ["list"]);
        assert.notEqual(long.code, 0);
        assert.match(long.stderr, /exceeds the limit of 69632 bytes before CONNECT_OPEN/);
      });

      await t.step(`${mode}: ${ATTACKERS} big partial frames keep RSS bounded`, async () => {
        const warm = await virsh(uri, ["list", "--all"]);
        assert.equal(warm.code, 0, warm.stderr);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const idle = rssBytes(proxy.pid)!;
        const daemonIdle = rssBytes(libvirtd.pid)!;
        const sampler = new RssSampler(proxy.pid);
        const daemonSampler = new RssSampler(libvirtd.pid);
        const conns = await Promise.all(
          Array.from({ length: ATTACKERS }, () => openedConnection(socket)),
        );
        const pushes = conns.map((conn) =>
          pushBigFrame(conn, {
            frameBytes: ATTACK_FRAME,
            sendBytes: ATTACK_FRAME - 65536,
            body,
          })
        );
        const good = await runPython(PYTHON_GOOD, [uri, "8", "40"], { timeoutMs: 60000 });
        // Every attacker is closed by the rate rule in turn, 8 at a time.
        const closed = await Promise.all(conns.map((conn) => waitForClose(conn, 60000)));
        await Promise.all(pushes);
        for (const conn of conns) conn.close();
        const peak = sampler.stop();
        const daemonPeak = daemonSampler.stop();
        const bound = idle + BUDGET * 1.1 + SLACK;
        console.log(
          `${mode}: virtmux RSS idle ${mib(idle)} MiB, peak ${mib(peak)} MiB (bound ${
            mib(bound)
          }); libvirtd idle ${mib(daemonIdle)} MiB, peak ${mib(daemonPeak)} MiB`,
        );
        assert.equal(good.code, 0, good.stderr);
        assert.deepEqual(JSON.parse(good.stdout), { ok: 8 * 40, errors: [] });
        assert.deepEqual(closed.filter((end) => end !== "eof"), []);
        assert.ok(peak <= bound, `peak RSS ${mib(peak)} MiB > bound ${mib(bound)} MiB`);
        const log = await proxy.logText();
        assert.match(log, /Client waits for buffer budget: max_buffered_bytes in use/);
        assert.match(log, /min_frame_rate/);
      });

      await t.step(`${mode}: a trickling big frame is closed by the rate rule`, async () => {
        const conn = await openedConnection(socket);
        try {
          const started = Date.now();
          const push = pushBigFrame(conn, {
            frameBytes: ATTACK_FRAME,
            sendBytes: ATTACK_FRAME,
            body,
            trickle: { chunk: 4096, everyMs: 100 },
          });
          assert.equal(await waitForClose(conn, 10000), "eof");
          const ms = Date.now() - started;
          assert.ok(ms >= 1900 && ms < 5000, `closed after ${ms} ms`);
          await push;
          const log = await proxy.logText();
          assert.match(
            log,
            /a frame that holds buffer budget must arrive within 1 s plus its length/,
          );
        } finally {
          conn.close();
        }
      });

      await t.step(`${mode}: a 3 MiB define and a screenshot work under pressure`, async () => {
        const waits = async () => (await proxy.logText()).split("waits for buffer budget").length;
        const before = await waits();
        const conns = await Promise.all(
          Array.from({ length: 12 }, () => openedConnection(socket)),
        );
        const pushes = conns.map((conn) =>
          pushBigFrame(conn, { frameBytes: ATTACK_FRAME, sendBytes: ATTACK_FRAME - 4096, body })
        );
        try {
          await waitFor("attackers to fill the budget", async () => await waits() > before, {
            timeoutMs: 5000,
          });
          const xmlFile = join(dir, `big-${mode}.xml`);
          await Deno.writeTextFile(xmlFile, bigDomainXml(`big-${mode}`, 3 * MIB));
          const shotFile = join(dir, `shot-${mode}.ppm`);
          // One virsh session: the test driver forgets a defined domain when its last client goes.
          const result = await virsh(uri, [
            `define ${xmlFile}; dominfo big-${mode}; screenshot test ${shotFile}`,
          ], { timeoutMs: 60000 });
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, new RegExp(`Name:\\s+big-${mode}`));
          assert.ok((await Deno.stat(shotFile)).size > 1000);
        } finally {
          for (const conn of conns) conn.close();
          await Promise.all(pushes);
        }
      });
    }
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}
