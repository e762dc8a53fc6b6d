/**
 * Listener policy and limits end to end: one private libvirtd, one `virtmux serve` with a
 * listener per rule (read-only over a dedicated and a shared upstream, deny and allow lists,
 * programs without "admin", max_clients, max_message_bytes) and the client timeouts, and a
 * second short-lived `virtmux serve` for idle_timeout. Every limit is hit on purpose and the
 * error the client sees is asserted.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { RemoteProc } from "../../src/wire/constants.ts";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader } from "../../src/wire/header.ts";
import { concat, frame, FrameSource, words } from "../_helpers/frames.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, runCommand, waitFor } from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

/** A client URI that reaches the test driver through the virtmux socket `socket`. */
function via(socket: string): string {
  return `test+unix:///default?socket=${socket}`;
}

const OPEN_ARGS = concat(words(1, 15), new TextEncoder().encode("test:///default\0"), words(0));

/** Python: hold N connections, then try one more; print how each ended. */
const MAX_CLIENTS_SCRIPT = `
import sys, time, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
uri, n = sys.argv[1], int(sys.argv[2])
held = []
for i in range(n):
    c = libvirt.open(uri)
    c.getLibVersion()
    held.append(c)
print("held", len(held), flush=True)
try:
    extra = libvirt.open(uri)
    extra.getLibVersion()
    print("extra ok")
except libvirt.libvirtError as e:
    print("extra error", e.get_error_message())
for c in held:
    c.getLibVersion()
print("held still work")
held.pop().close()
deadline = time.time() + 5
while True:
    try:
        again = libvirt.open(uri)
        again.getLibVersion()
        print("after one left ok")
        again.close()
        break
    except libvirt.libvirtError as e:
        if time.time() > deadline:
            print("after one left error", e.get_error_message())
            break
        time.sleep(0.1)
for c in held:
    c.close()
`;

/** Python: a defineXML of ~300 KB through a listener limited to 262148 bytes. */
const BIG_DEFINE_SCRIPT = `
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
other = libvirt.open(sys.argv[1])
other.getLibVersion()
c = libvirt.open(sys.argv[1])
c.getLibVersion()
pad = "<!-- " + "x" * 300000 + " -->"
xml = "<domain type='test'><name>huge</name><memory>8192</memory><os><type>hvm</type></os>" + pad + "</domain>"
try:
    c.defineXML(xml)
    print("big ok")
except libvirt.libvirtError as e:
    print("big error", e.get_error_message())
try:
    c.getLibVersion()
    print("same client ok")
except libvirt.libvirtError as e:
    print("same client error", e.get_error_message())
print("other", other.getLibVersion() > 0)
other.close()
`;

/** Reads frames until EOF, or `limitMs`; resolves to how long the connection stayed open. */
async function closedWithin(conn: Deno.UnixConn, limitMs: number): Promise<number> {
  const began = Date.now();
  const frames = new FrameSource(conn);
  const timer = setTimeout(() => conn.close(), limitMs);
  try {
    while ((await frames.next()) !== null) { /* drain */ }
  } finally {
    clearTimeout(timer);
  }
  const took = Date.now() - began;
  assert.ok(took < limitMs, `still open after ${took} ms`);
  return took;
}

/**
 * Connects raw, sends AUTH_LIST and CONNECT_OPEN one after the other (as libvirt's client does:
 * libvirtd may answer two calls of one client in either order), and reads both replies.
 */
async function openRaw(path: string): Promise<Deno.UnixConn> {
  const conn = await Deno.connect({ transport: "unix", path });
  const frames = new FrameSource(conn);
  const calls = [
    frame({ procedure: RemoteProc.AUTH_LIST, serial: 0 }),
    frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 1, body: OPEN_ARGS }),
  ];
  for (const [serial, call] of calls.entries()) {
    await conn.write(call);
    const reply = await frames.next();
    assert.ok(reply);
    assert.equal(readHeader(reply).serial, serial);
    assert.equal(readHeader(reply).status, 0, "OK");
  }
  return conn;
}

Deno.test("policy and limits through virtmux", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("policy");
  let virtmux: Virtmux | undefined;
  try {
    const s = (name: string) => join(dir, `${name}.sock`);
    virtmux = await startVirtmux(`
[log]
level = "info"

[limits]
shutdown_grace = 1
open_timeout = 1
frame_timeout = 1

[[upstream]]
name = "ded"
uri = "${libvirtd.uris.unix}"
share = false

[[upstream]]
name = "shr"
uri = "${libvirtd.uris.unix}"
share = true

[[upstream]]
name = "admin"
uri = "libvirtd:///system?socket=${libvirtd.adminSocket}"

[[listen]]
socket = "${s("ro-ded")}"
upstream = "ded"
readonly = true

[[listen]]
socket = "${s("ro-shr")}"
upstream = "shr"
readonly = true

[[listen]]
socket = "${s("deny-ded")}"
upstream = "ded"
deny_procedures = ["REMOTE_PROC_DOMAIN_DESTROY", "virDomainUndefineFlags"]

[[listen]]
socket = "${s("deny-shr")}"
upstream = "shr"
deny_procedures = ["DOMAIN_DESTROY"]

[[listen]]
socket = "${s("allow")}"
upstream = "ded"
allow_procedures = ["CONNECT_LIST_ALL_DOMAINS", "DOMAIN_GET_STATE", "virConnectGetLibVersion"]

[[listen]]
socket = "${s("admin")}"
upstream = "admin"
programs = ["remote", "admin"]

[[listen]]
socket = "${s("no-admin")}"
upstream = "admin"

[[listen]]
socket = "${s("maxc")}"
upstream = "ded"
max_clients = 3

[[listen]]
socket = "${s("small")}"
upstream = "ded"
max_message_bytes = 262148
`);
    const domainXml = join(dir, "domain.xml");
    await Deno.writeTextFile(
      domainXml,
      "<domain type='test'><name>ro-new</name><memory>8192</memory><os><type>hvm</type></os>" +
        "</domain>\n",
    );

    for (const kind of ["ded", "shr"] as const) {
      await t.step(
        `read-only (${kind}): the daemon refuses destroy, define, undefine`,
        async () => {
          const uri = via(s(`ro-${kind}`));
          const list = await virsh(uri, ["list", "--all"]);
          assert.equal(list.code, 0, list.stderr);
          assert.match(list.stdout, /^\s*1\s+test\s+running\s*$/m);
          for (
            const [args, api] of [
              [["destroy", "test"], "virDomainDestroy"],
              [["define", domainXml], "virDomainDefineXML"],
              [["undefine", "test"], "virDomainUndefine"],
            ] as const
          ) {
            const result = await virsh(uri, [...args]);
            assert.equal(result.code, 1, `${args[0]}: ${result.stdout}`);
            // The daemon's own VIR_ERR_OPERATION_DENIED, not virtmux's policy.
            assert.match(
              result.stderr,
              new RegExp(`operation forbidden: read only access prevents ${api}`),
              result.stderr,
            );
          }
          const after = await virsh(uri, ["list", "--all", "--name"]);
          assert.equal(after.code, 0, after.stderr);
          assert.deepEqual(after.stdout.trim().split("\n"), ["test"], "nothing changed");
        },
      );
    }

    for (const kind of ["ded", "shr"] as const) {
      await t.step(`deny_procedures (${kind}): destroy refused, the rest works`, async () => {
        const socket = s(`deny-${kind}`);
        const result = await virsh(via(socket), [
          "list; destroy test; domstate test; suspend test; domstate test; resume test; " +
          "domstate test; version",
        ]);
        assert.match(
          result.stderr,
          new RegExp(
            `error: Procedure DOMAIN_DESTROY is denied by the policy of listener "${socket}"`,
          ),
        );
        assert.equal(result.stderr.match(/error:/g)?.length, 2, result.stderr);
        const states = result.stdout.split("\n").map((l) => l.trim()).filter((l) =>
          l === "running" || l === "paused" || l === "shut off"
        );
        assert.deepEqual(states, ["running", "paused", "running"], result.stdout);
        assert.match(result.stdout, /Using library: libvirt 9\./);
      });
    }

    await t.step("deny_procedures by API name: undefine refused", async () => {
      const result = await virsh(via(s("deny-ded")), ["undefine", "test"]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /Procedure DOMAIN_UNDEFINE_FLAGS is denied by the policy of listener/,
        result.stderr,
      );
    });

    await t.step("allow_procedures: listed calls work, others are refused", async () => {
      const socket = s("allow");
      const list = await virsh(via(socket), ["list", "--all"]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^\s*1\s+test\s+running\s*$/m);
      const host = await virsh(via(socket), ["hostname"]);
      assert.equal(host.code, 1);
      assert.match(
        host.stderr,
        new RegExp(
          `Procedure CONNECT_GET_HOSTNAME is denied by the policy of listener "${socket}"`,
        ),
        host.stderr,
      );
      const script = `
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
c = libvirt.open(sys.argv[1])
print("version", c.getLibVersion())
try:
    c.getHostname()
    print("hostname ok")
except libvirt.libvirtError as e:
    print("hostname error", e.get_error_code(), e.get_error_message())
print("domains", len(c.listAllDomains()))
c.close()
`;
      const py = await runPython(script, [via(socket)]);
      assert.equal(py.code, 0, py.stderr);
      assert.match(py.stdout, /^version 9\d{6}$/m);
      // VIR_ERR_OPERATION_DENIED (29).
      assert.match(py.stdout, /^hostname error 29 Procedure CONNECT_GET_HOSTNAME is denied/m);
      assert.match(py.stdout, /^domains 1$/m);
    });

    // Flaky as of a42beaa (about 2 runs in 30): virtmux closes the socket right after its error
    // reply, and virt-admin, which does not ignore SIGPIPE, sometimes dies of it (exit 141)
    // before printing the error. Same cause as the 300 KB defineXML step below.
    await t.step('programs without "admin": virt-admin is refused', async () => {
      const env = { LC_ALL: "C", HOME: dir };
      const allowed = await runCommand("virt-admin", [
        "-c",
        `libvirtd:///system?socket=${s("admin")}`,
        "srv-list",
      ], { env, timeoutMs: 15000 });
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /libvirtd/);
      const refused = await runCommand("virt-admin", [
        "-c",
        `libvirtd:///system?socket=${s("no-admin")}`,
        "srv-list",
      ], { env, timeoutMs: 15000 });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /program ADMIN is not allowed/, refused.stderr);
      const log = await virtmux!.logText();
      assert.match(log, /Closing client after an invalid frame.*program ADMIN is not allowed/);
    });

    await t.step("max_clients on a listener: the extra client gets the limit error", async () => {
      const socket = s("maxc");
      const py = await runPython(MAX_CLIENTS_SCRIPT, [via(socket), "3"]);
      assert.equal(py.code, 0, py.stderr);
      assert.match(py.stdout, /^held 3$/m);
      assert.match(
        py.stdout,
        new RegExp(`^extra error .*virtmux has reached its limit of 3 clients on "${socket}"`, "m"),
        py.stdout,
      );
      assert.match(py.stdout, /^held still work$/m);
      assert.match(py.stdout, /^after one left ok$/m, py.stdout);
      assert.match(await virtmux!.logText(), /Client refused: too many clients.*limit=3/);
    });

    // Fails as of a42beaa: virtmux closes the client right after answering the oversized frame's
    // header, while the client is still writing the rest of it, so python-libvirt reports
    // "Cannot write data: Broken pipe" instead of virtmux's "exceeds the limit" error.
    await t.step(
      "max_message_bytes = 262148: a 300 KB defineXML closes only its client",
      async () => {
        const py = await runPython(BIG_DEFINE_SCRIPT, [via(s("small"))]);
        assert.equal(py.code, 0, py.stderr);
        assert.match(
          py.stdout,
          /^big error .*length \d+ exceeds the limit of 262148 bytes/m,
          py.stdout,
        );
        assert.match(py.stdout, /^same client error /m, "the offending client was closed");
        assert.match(py.stdout, /^other True$/m, "another client on the listener works");
        assert.match(
          await virtmux!.logText(),
          /Closing client after an invalid frame.*exceeds the limit of 262148 bytes/,
        );
      },
    );

    await t.step("max_message_bytes: a raw oversized frame gets the error, then EOF", async () => {
      const conn = await openRaw(s("small"));
      try {
        // Only the header of a 262149-byte CALL: the proxy answers from the header alone.
        await conn.write(frame({ procedure: 157, serial: 7, length: 262149 }));
        const frames = new FrameSource(conn);
        const reply = await frames.next();
        assert.ok(reply);
        assert.equal(readHeader(reply).serial, 7);
        assert.equal(readHeader(reply).status, 1, "ERROR");
        assert.match(
          decodeErrorReply(reply).message ?? "",
          /length 262149 exceeds the limit of 262148 bytes/,
        );
        assert.equal(await frames.next(), null);
      } finally {
        conn.close();
      }
      const list = await virsh(via(s("small")), ["list"]);
      assert.equal(list.code, 0, list.stderr);
    });

    await t.step("open_timeout = 1: a client that sends nothing is closed", async () => {
      const conn = await Deno.connect({ transport: "unix", path: s("deny-ded") });
      const took = await closedWithin(conn, 2500);
      assert.ok(took >= 900, `closed after ${took} ms`);
      await waitFor(
        "the open_timeout log line",
        async () =>
          /Closing client: timeout.*sent no CONNECT_OPEN within 1 s \(open_timeout\)/.test(
            await virtmux!.logText(),
          ),
        { timeoutMs: 2000 },
      );
    });

    await t.step("frame_timeout = 1: half a header, then a stall, closes the client", async () => {
      const conn = await openRaw(s("deny-ded"));
      await conn.write(frame({ procedure: 157, serial: 2 }).subarray(0, 13));
      const took = await closedWithin(conn, 2500);
      assert.ok(took >= 900, `closed after ${took} ms`);
      await waitFor(
        "the frame_timeout log line",
        async () =>
          /Closing client: timeout.*stalled in the middle of a frame for 1 s \(frame_timeout\)/
            .test(await virtmux!.logText()),
        { timeoutMs: 2000 },
      );
    });
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});

Deno.test("idle_timeout through virtmux: an idle client is closed, a busy one is not", async () => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("idle");
  let virtmux: Virtmux | undefined;
  try {
    const socket = join(dir, "idle.sock");
    virtmux = await startVirtmux(`
[limits]
shutdown_grace = 1
idle_timeout = 2

[[upstream]]
name = "ded"
uri = "${libvirtd.uris.unix}"

[[listen]]
socket = "${socket}"
upstream = "ded"
`);
    const idle = await openRaw(socket);
    const busy = await openRaw(socket);
    const frames = new FrameSource(busy);
    let serial = 10;
    const stopBusy = { now: false };
    // The busy client calls every 500 ms for 4 s; the idle one sends nothing.
    const busyLoop = (async () => {
      const until = Date.now() + 4000;
      while (Date.now() < until && !stopBusy.now) {
        await busy.write(frame({ procedure: 157, serial: serial++ }));
        const reply = await frames.next();
        assert.ok(reply, "the busy client is never closed");
        assert.equal(readHeader(reply).status, 0);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    try {
      const took = await closedWithin(idle, 3500);
      assert.ok(took >= 1900, `closed after ${took} ms`);
      await busyLoop;
    } finally {
      stopBusy.now = true;
      await busyLoop.catch(() => {});
      busy.close();
    }
    assert.match(await virtmux.logText(), /Closing client: timeout.*idle for 2 s \(idle_timeout\)/);
    const python = await runPython(
      `
import sys, time, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
c = libvirt.open(sys.argv[1])
c.getLibVersion()
time.sleep(3.2)
try:
    c.getLibVersion()
    print("after idle ok")
except libvirt.libvirtError as e:
    print("after idle error", e.get_error_message())
`,
      [via(socket)],
    );
    assert.equal(python.code, 0, python.stderr);
    assert.match(python.stdout, /^after idle error /m, python.stdout);
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
