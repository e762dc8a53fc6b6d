/**
 * The virtmux command line as a user meets it: `version`, `check-config`, and `serve`'s socket
 * handling and signals. The upstream here is a fake daemon, a unix socket served by this test,
 * which records what it receives and answers only when told to, so that a call can be held
 * outstanding across a shutdown.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { MessageStatus, MessageType, RemoteProc } from "../../src/wire/constants.ts";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader } from "../../src/wire/header.ts";
import { frame, FrameSource } from "../_helpers/frames.ts";
import {
  assertNoLeftoverProcesses,
  spawnProcess,
  waitFor,
  waitForUnixSocket,
} from "./helpers/process.ts";
import { PYTHON } from "./helpers/python.ts";
import { tempDir } from "./helpers/tmp.ts";
import { runVirtmux, startVirtmux } from "./helpers/virtmux.ts";

const EXAMPLE_CONFIG = fileURLToPath(new URL("../../config.example.toml", import.meta.url));

/** A fake libvirt daemon on a unix socket: hands each accepted connection to the test. */
class FakeUpstream {
  readonly path: string;
  readonly #listener: Deno.UnixListener;
  readonly #conns: Deno.UnixConn[] = [];
  readonly #waiting: ((conn: Deno.UnixConn) => void)[] = [];
  readonly #accepting: Promise<void>;

  constructor(path: string) {
    this.path = path;
    const listener = Deno.listen({ transport: "unix", path });
    this.#listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const conn of listener) {
          const waiter = this.#waiting.shift();
          if (waiter) waiter(conn);
          else this.#conns.push(conn);
        }
      } catch { /* closed */ }
    })();
  }

  /** The next connection virtmux makes. */
  accept(): Promise<Deno.UnixConn> {
    const conn = this.#conns.shift();
    if (conn) return Promise.resolve(conn);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /**
   * Takes the connection virtmux made for startVirtmux's readiness probe (a client that connects
   * and closes at once) and waits until virtmux closes it.
   */
  async skipProbe(): Promise<void> {
    const probe = await this.accept();
    try {
      assert.ok(await closedWithin(probe, 5000), "the probe's upstream connection stayed open");
    } finally {
      probe.close();
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }
}

/** A config with one dedicated upstream at `upstreamSocket` and the given listeners. */
function config(
  upstreamSocket: string,
  listeners: { socket: string; mode?: string }[],
  grace = 3,
): string {
  return [
    `[limits]`,
    `shutdown_grace = ${grace}`,
    ``,
    `[[upstream]]`,
    `name = "fake"`,
    `uri = "test+unix:///default?socket=${upstreamSocket}"`,
    `share = false`,
    ...listeners.flatMap((l) => [
      ``,
      `[[listen]]`,
      `socket = "${l.socket}"`,
      `upstream = "fake"`,
      ...(l.mode ? [`mode = "${l.mode}"`] : []),
    ]),
    ``,
  ].join("\n");
}

/** Resolves to true when `conn` reaches EOF (or fails) within `ms`, false if it stays open. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"open">((resolve) => {
    timer = setTimeout(() => resolve("open"), ms);
  });
  try {
    while (true) {
      const n = await Promise.race([conn.read(buffer).catch(() => null), timeout]);
      if (n === "open") return false;
      if (n === null) return true;
    }
  } finally {
    clearTimeout(timer);
  }
}

async function gone(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return false;
  } catch {
    return true;
  }
}

Deno.test("virtmux version prints the version", async () => {
  const result = await runVirtmux(["version"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^virtmux \d+\.\d+\.\d+\b/);
});

Deno.test("check-config accepts config.example.toml", async () => {
  const result = await runVirtmux(["check-config", "--config", EXAMPLE_CONFIG]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /OK/);
});

Deno.test("check-config reports every mistake as FILE:LINE:COL: message, exit 1", async () => {
  await using dir = await tempDir("cli");
  const path = join(dir.path, "bad.toml");
  await Deno.writeTextFile(
    path,
    [
      `[limits]`,
      `max_clientz = 5`,
      ``,
      `[[upstream]]`,
      `name = "a"`,
      `uri = "test:///default"`,
      ``,
      `[[listen]]`,
      `socket = "${join(dir.path, "s.sock")}"`,
      `upstream = "b"`,
      ``,
    ].join("\n"),
  );
  const result = await runVirtmux(["check-config", "--config", path]);
  assert.equal(result.code, 1);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 2, result.stderr);
  for (const line of lines) assert.match(line, /^.+:\d+:\d+: .+$/);
  assert.ok(lines[0].startsWith(`${path}:2:1: `), lines[0]);
  assert.match(lines[0], /unknown key "max_clientz"/);
  assert.ok(lines[1].startsWith(`${path}:10:`), lines[1]);
  assert.match(lines[1], /unknown upstream "b"/);
  assert.equal(result.stdout, "");
});

Deno.test("serve refuses a socket path that a live process serves", async () => {
  await using dir = await tempDir("cli");
  const upstream = new FakeUpstream(join(dir.path, "upstream.sock"));
  const socket = join(dir.path, "taken.sock");
  const live = Deno.listen({ transport: "unix", path: socket });
  try {
    const configPath = join(dir.path, "virtmux.toml");
    await Deno.writeTextFile(configPath, config(upstream.path, [{ socket }]));
    const result = await runVirtmux(["serve", "--config", configPath], { timeoutMs: 15000 });
    assert.ok(!result.timedOut);
    assert.equal(result.code, 1, result.stderr);
    assert.ok(result.stderr.includes(`"${socket}"`), result.stderr);
    assert.match(result.stderr, /another process is serving/);
    // The live socket is untouched.
    const conn = await Deno.connect({ transport: "unix", path: socket });
    conn.close();
    (await live.accept()).close();
  } finally {
    live.close();
    await upstream.close();
  }
});

Deno.test("serve replaces a stale socket, applies the mode, and SIGTERM removes both sockets", async () => {
  await using dir = await tempDir("cli");
  const upstream = new FakeUpstream(join(dir.path, "upstream.sock"));
  const stale = join(dir.path, "stale.sock");
  const other = join(dir.path, "sub", "other.sock");
  try {
    // A socket left behind by a process that was SIGKILLed.
    const holder = spawnProcess(PYTHON, {
      args: [
        "-c",
        "import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\n" +
        "s.listen()\ntime.sleep(60)",
        stale,
      ],
      name: "socket holder",
    });
    try {
      await waitForUnixSocket(stale, { process: holder });
    } finally {
      await holder.kill({ signal: "SIGKILL" });
    }
    assert.ok((await Deno.lstat(stale)).isSocket);
    await assert.rejects(Deno.connect({ transport: "unix", path: stale }));

    const virtmux = await startVirtmux(
      config(upstream.path, [{ socket: stale, mode: "0600" }, { socket: other, mode: "0640" }]),
    );
    let code: number | undefined;
    try {
      assert.equal((await Deno.stat(stale)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(other)).mode! & 0o777, 0o640);
      const conn = await Deno.connect({ transport: "unix", path: stale });
      conn.close();
    } finally {
      code = (await virtmux.stop("SIGTERM")).code;
    }
    assert.equal(code, 0);
    assert.ok(await gone(stale), "the socket file stayed");
    assert.ok(await gone(other), "the socket file stayed");
    assert.match(await virtmux.logText(), /Replaced a stale socket/);
  } finally {
    await upstream.close();
  }
  assertNoLeftoverProcesses();
});

Deno.test("SIGINT: exit 0, an idle client is closed, the socket removed", async () => {
  await using dir = await tempDir("cli");
  const upstream = new FakeUpstream(join(dir.path, "upstream.sock"));
  const socket = join(dir.path, "proxy.sock");
  const virtmux = await startVirtmux(config(upstream.path, [{ socket }]));
  await upstream.skipProbe();
  let client: Deno.UnixConn | undefined;
  let upstreamConn: Deno.UnixConn | undefined;
  try {
    client = await Deno.connect({ transport: "unix", path: socket });
    upstreamConn = await upstream.accept();
    const began = performance.now();
    const stopping = virtmux.stop("SIGINT");
    assert.ok(await closedWithin(client, 5000), "the idle client stayed open");
    assert.ok(await closedWithin(upstreamConn, 5000), "the upstream connection stayed open");
    assert.equal((await stopping).code, 0);
    // Nothing was outstanding: no need to wait out the 3 s grace period.
    const took = performance.now() - began;
    assert.ok(took < 2500, `shutdown took ${took.toFixed(0)} ms`);
    assert.ok(await gone(socket));
  } finally {
    client?.close();
    upstreamConn?.close();
    await virtmux.stop();
    await upstream.close();
  }
  assertNoLeftoverProcesses();
});

Deno.test("SIGTERM lets an outstanding call finish and refuses new ones", async () => {
  await using dir = await tempDir("cli");
  const upstream = new FakeUpstream(join(dir.path, "upstream.sock"));
  const socket = join(dir.path, "proxy.sock");
  const virtmux = await startVirtmux(config(upstream.path, [{ socket }], 5));
  await upstream.skipProbe();
  let client: Deno.UnixConn | undefined;
  let upstreamConn: Deno.UnixConn | undefined;
  try {
    client = await Deno.connect({ transport: "unix", path: socket });
    upstreamConn = await upstream.accept();
    const fromClient = new FrameSource(client);
    const atUpstream = new FrameSource(upstreamConn);
    // REMOTE_PROC_CONNECT_GET_LIB_VERSION.
    const call = frame({ procedure: 157, serial: 1 });
    await client.write(call);
    const forwarded = await atUpstream.next();
    assert.deepEqual(forwarded, call);

    const began = performance.now();
    const stopping = virtmux.stop("SIGTERM");
    await waitFor("the socket to go", () => gone(socket), { timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 200));

    // A call made while draining is answered by virtmux and not forwarded.
    await client.write(frame({ procedure: RemoteProc.AUTH_LIST, serial: 2 }));
    const refused = await fromClient.next();
    assert.ok(refused, "the client was closed instead of answered");
    const refusedHeader = readHeader(refused);
    assert.equal(refusedHeader.serial, 2);
    assert.equal(refusedHeader.status, MessageStatus.ERROR);
    assert.match(decodeErrorReply(refused).message ?? "", /shutting down/);

    // The outstanding call's reply still reaches the client; then the session ends.
    const reply = frame({ type: MessageType.REPLY, serial: 1, procedure: 157 });
    await upstreamConn.write(reply);
    const answered = await fromClient.next();
    assert.deepEqual(answered, reply);
    assert.equal(await fromClient.next(), null);
    assert.equal(await atUpstream.next(), null, "the refused call was forwarded");

    assert.equal((await stopping).code, 0);
    const took = performance.now() - began;
    assert.ok(took < 4000, `shutdown waited out the grace period: ${took.toFixed(0)} ms`);
  } finally {
    client?.close();
    upstreamConn?.close();
    await virtmux.stop();
    await upstream.close();
  }
  assertNoLeftoverProcesses();
});

Deno.test("SIGTERM with a call never answered: closed after the grace period, exit 0", async () => {
  await using dir = await tempDir("cli");
  const upstream = new FakeUpstream(join(dir.path, "upstream.sock"));
  const socket = join(dir.path, "proxy.sock");
  const virtmux = await startVirtmux(config(upstream.path, [{ socket }], 1));
  await upstream.skipProbe();
  let client: Deno.UnixConn | undefined;
  let upstreamConn: Deno.UnixConn | undefined;
  try {
    client = await Deno.connect({ transport: "unix", path: socket });
    upstreamConn = await upstream.accept();
    await client.write(frame({ procedure: RemoteProc.AUTH_LIST, serial: 1 }));
    assert.ok(await new FrameSource(upstreamConn).next());
    const began = performance.now();
    const stopping = virtmux.stop("SIGTERM");
    assert.ok(await closedWithin(client, 5000), "the client stayed open");
    const took = performance.now() - began;
    assert.ok(took >= 900, `closed before the 1 s grace period: ${took.toFixed(0)} ms`);
    assert.equal((await stopping).code, 0);
    assert.ok(await gone(socket));
  } finally {
    client?.close();
    upstreamConn?.close();
    await virtmux.stop();
    await upstream.close();
  }
  assertNoLeftoverProcesses();
});
