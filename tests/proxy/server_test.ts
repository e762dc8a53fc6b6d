/**
 * The Server with a fake upstream (its `dialUpstream` option): client limits, reload, and the
 * client timeouts its once-a-second sweep enforces.
 */

import assert from "node:assert/strict";
import { Logger } from "../../src/log/logger.ts";
import type { ClientTimeouts } from "../../src/proxy/client_clock.ts";
import { Policy } from "../../src/proxy/policy.ts";
import type { ClientIdentity, SessionObservers } from "../../src/proxy/observer.ts";
import { Server, type ServerOptions } from "../../src/proxy/server.ts";
import type { ListenerSpec, UpstreamSpec } from "../../src/proxy/spec.ts";
import type { Channel } from "../../src/transport/channel.ts";
import { parseUri } from "../../src/uri/uri.ts";
import {
  ErrorCode,
  MessageStatus,
  MessageType,
  Program,
  RemoteProc,
} from "../../src/wire/constants.ts";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader, readU32 } from "../../src/wire/header.ts";
import { resolveProcedureName } from "../../src/wire/procedure_names.ts";
import { concat, frame, FrameSource, words } from "../_helpers/frames.ts";
import { type SocketPair, socketPair } from "../_helpers/socket_pair.ts";

/** A procedure the fake upstream never answers: a call that stays outstanding. */
const HOLD_PROC = 273;
const UID = Deno.uid()!;
const GID = Deno.gid()!;
const OPEN_ARGS = concat(words(1, 15), new TextEncoder().encode("test:///default\0"), words(0));

const UPSTREAM: UpstreamSpec = {
  name: "fake",
  uri: parseUri("test+unix:///default?socket=/nonexistent"),
  connectTimeoutMs: 1000,
  share: false,
  poolMax: 1,
  maxPools: 16,
  maxInflightPerConnection: 5,
  idleMs: 1000,
  keepaliveIntervalMs: 5000,
  keepaliveCount: 5,
};

const NO_TIMEOUTS: ClientTimeouts = { openMs: 0, frameMs: 0, idleMs: 0 };

function spec(socket: string, options: Partial<ListenerSpec> = {}): ListenerSpec {
  return {
    socket,
    mode: 0o600,
    readonly: false,
    upstream: UPSTREAM,
    maxFrameBytes: 1 << 20,
    maxInflightPerClient: 32,
    maxClients: 100,
    programs: new Set([Program.REMOTE, Program.KEEPALIVE]),
    policy: new Policy({ listener: socket, deny: [], allow: [] }),
    timeouts: NO_TIMEOUTS,
    routes: new Map(),
    allowUids: new Set(),
    allowGids: new Set(),
    ...options,
  };
}

function denying(socket: string, ...names: string[]): Policy {
  return new Policy({
    listener: socket,
    deny: names.map((n) => resolveProcedureName(n)!),
    allow: [],
  });
}

/** A fake daemon end per dial: answers every CALL but HOLD_PROC with an empty OK REPLY. */
class FakeUpstream {
  readonly pairs: SocketPair[] = [];
  readonly calls: { readonly: boolean; frame: Uint8Array }[] = [];
  readonly #serving: Promise<void>[] = [];

  dial = async (_upstream: UpstreamSpec, readonly: boolean): Promise<Channel> => {
    const pair = await socketPair();
    this.pairs.push(pair);
    this.#serving.push(this.#serve(pair.b, readonly));
    return pair.a;
  };

  async #serve(conn: Deno.UnixConn, readonly: boolean): Promise<void> {
    const source = new FrameSource(conn);
    let call: Uint8Array | null;
    while ((call = await source.next()) !== null) {
      this.calls.push({ readonly, frame: call });
      const h = readHeader(call);
      if (h.type !== MessageType.CALL || h.procedure === HOLD_PROC) continue;
      try {
        await conn.write(frame({
          program: h.program,
          procedure: h.procedure,
          serial: h.serial,
          type: MessageType.REPLY,
        }));
      } catch {
        break;
      }
    }
    // Like libvirtd: the client's EOF ends the connection.
    try {
      conn.close();
    } catch { /* closed */ }
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) pair.close();
    await Promise.all(this.#serving);
  }
}

interface Harness {
  dir: string;
  server: Server;
  upstream: FakeUpstream;
  lines: string[];
  path(name: string): string;
  finish(): Promise<void>;
}

async function start(
  listeners: (dir: string) => ListenerSpec[],
  maxClients = 100,
  extra: Partial<ServerOptions> = {},
): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-server-" });
  const upstream = new FakeUpstream();
  const lines: string[] = [];
  const server = new Server({
    listeners: listeners(dir),
    maxClients,
    logger: new Logger({ sink: (line) => lines.push(line), level: "debug" }),
    shutdownGraceMs: 200,
    dialUpstream: upstream.dial,
    ...extra,
  });
  await server.start();
  return {
    dir,
    server,
    upstream,
    lines,
    path: (name) => `${dir}/${name}`,
    async finish() {
      await server.shutdown();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A raw client that sends calls and reads replies. */
class Client {
  readonly conn: Deno.UnixConn;
  readonly frames: FrameSource;
  #serial = 0;

  private constructor(conn: Deno.UnixConn) {
    this.conn = conn;
    this.frames = new FrameSource(conn);
  }

  static async connect(path: string): Promise<Client> {
    return new Client(await Deno.connect({ transport: "unix", path }));
  }

  /** Sends a CALL and returns its serial. */
  async send(procedure: number, body?: Uint8Array): Promise<number> {
    const serial = this.#serial++;
    await this.conn.write(frame({ procedure, serial, body }));
    return serial;
  }

  /** Sends a CALL and resolves to its reply (null at EOF). */
  async call(procedure: number, body?: Uint8Array): Promise<Uint8Array | null> {
    const serial = await this.send(procedure, body);
    const reply = await this.frames.next();
    if (reply !== null) assert.equal(readHeader(reply).serial, serial);
    return reply;
  }

  /** CONNECT_OPEN, answered OK. */
  async open(): Promise<void> {
    const reply = await this.call(RemoteProc.CONNECT_OPEN, OPEN_ARGS);
    assert.ok(reply, "open reply");
    assert.equal(readHeader(reply).status, MessageStatus.OK);
  }

  /** A call answered OK. */
  async works(): Promise<void> {
    const reply = await this.call(RemoteProc.CONNECT_GET_LIB_VERSION);
    assert.ok(reply, "a reply, not EOF");
    assert.equal(readHeader(reply).status, MessageStatus.OK);
  }

  /** Milliseconds until the proxy closes this connection (reading and dropping frames). */
  async closedWithin(limitMs: number): Promise<number> {
    const began = Date.now();
    const timer = setTimeout(() => this.close(), limitMs);
    try {
      while ((await this.frames.next()) !== null) { /* drain */ }
    } finally {
      clearTimeout(timer);
    }
    const took = Date.now() - began;
    assert.ok(took < limitMs, `closed after ${took} ms, limit ${limitMs} ms`);
    return took;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

function assertErrorReply(reply: Uint8Array | null, pattern: RegExp | string, code: number): void {
  assert.ok(reply, "an error reply, not EOF");
  const h = readHeader(reply);
  assert.equal(h.type, MessageType.REPLY);
  assert.equal(h.status, MessageStatus.ERROR);
  const error = decodeErrorReply(reply);
  assert.equal(error.code, code);
  if (typeof pattern === "string") assert.equal(error.message, pattern);
  else assert.match(error.message ?? "", pattern);
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("max_clients over all listeners: the extra client gets an error reply, then EOF", async () => {
  const t = await start((dir) => [spec(`${dir}/a.sock`), spec(`${dir}/b.sock`)], 2);
  const clients: Client[] = [];
  try {
    const a = await Client.connect(t.path("a.sock"));
    const b = await Client.connect(t.path("b.sock"));
    clients.push(a, b);
    await a.open();
    await b.open();
    assert.equal(t.server.clientCount, 2);
    for (const name of ["a.sock", "b.sock"]) {
      const extra = await Client.connect(t.path(name));
      clients.push(extra);
      const reply = await extra.call(RemoteProc.AUTH_LIST);
      assertErrorReply(
        reply,
        `virtmux has reached its limit of 2 clients on "${t.path(name)}"`,
        ErrorCode.RPC,
      );
      assert.equal(await extra.frames.next(), null, "the refused client is closed");
    }
    await a.works();
    await b.works();
    assert.ok(t.lines.some((l) => l.includes("Client refused: too many clients")));
    // A leaving client frees its place.
    a.close();
    await until("a's session to end", () => t.server.clientCount === 1);
    const c = await Client.connect(t.path("a.sock"));
    clients.push(c);
    await c.open();
    await c.works();
  } finally {
    for (const c of clients) c.close();
    await t.finish();
  }
});

Deno.test("max_clients per listener: only that listener refuses", async () => {
  const t = await start((dir) => [
    spec(`${dir}/one.sock`, { maxClients: 1 }),
    spec(`${dir}/many.sock`),
  ]);
  const clients: Client[] = [];
  try {
    const first = await Client.connect(t.path("one.sock"));
    clients.push(first);
    await first.open();
    const extra = await Client.connect(t.path("one.sock"));
    clients.push(extra);
    // The refusal answers every call of the first read, all with the limit.
    await extra.conn.write(concat(
      frame({ procedure: RemoteProc.AUTH_LIST, serial: 0 }),
      frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 1, body: OPEN_ARGS }),
    ));
    for (const serial of [0, 1]) {
      const reply = await extra.frames.next();
      assertErrorReply(reply, /reached its limit of 1 clients on ".*\/one\.sock"/, ErrorCode.RPC);
      assert.equal(readHeader(reply!).serial, serial);
    }
    assert.equal(await extra.frames.next(), null);
    for (let i = 0; i < 3; i++) {
      const other = await Client.connect(t.path("many.sock"));
      clients.push(other);
      await other.open();
      await other.works();
    }
    await first.works();
    assert.equal(t.upstream.pairs.length, 4, "the refused client never dialled upstream");
  } finally {
    for (const c of clients) c.close();
    await t.finish();
  }
});

Deno.test("reload: new listeners open, removed ones vanish, their clients keep working", async () => {
  const t = await start((dir) => [spec(`${dir}/keep.sock`), spec(`${dir}/gone.sock`)]);
  const clients: Client[] = [];
  try {
    const onGone = await Client.connect(t.path("gone.sock"));
    const onKeep = await Client.connect(t.path("keep.sock"));
    clients.push(onGone, onKeep);
    await onGone.open();
    await onKeep.open();
    const problems = await t.server.reload([
      spec(t.path("keep.sock"), { policy: denying(t.path("keep.sock"), "DOMAIN_DESTROY") }),
      spec(t.path("sub/new.sock")),
    ], 100);
    assert.deepEqual(problems, []);
    assert.deepEqual(t.server.sockets.sort(), [t.path("keep.sock"), t.path("sub/new.sock")]);
    assert.throws(() => Deno.lstatSync(t.path("gone.sock")), Deno.errors.NotFound);
    await assert.rejects(() => Deno.connect({ transport: "unix", path: t.path("gone.sock") }));
    assert.ok(Deno.lstatSync(t.path("sub/new.sock")).isSocket);
    const onNew = await Client.connect(t.path("sub/new.sock"));
    clients.push(onNew);
    await onNew.open();
    await onNew.works();
    // The removed listener's client and the unchanged listener's client keep working.
    await onGone.works();
    await onKeep.works();
    // The old client of keep.sock keeps its old policy; a new one gets the new policy.
    const destroy = await onKeep.call(12, words(0, 0, 0, 0, 0, 0, 0));
    assert.equal(readHeader(destroy!).status, MessageStatus.OK);
    const fresh = await Client.connect(t.path("keep.sock"));
    clients.push(fresh);
    await fresh.open();
    assertErrorReply(
      await fresh.call(12, words(0, 0, 0, 0, 0, 0, 0)),
      `Procedure DOMAIN_DESTROY is denied by the policy of listener "${t.path("keep.sock")}"`,
      ErrorCode.OPERATION_DENIED,
    );
    assert.ok(t.lines.some((l) => l.includes("Listener removed") && l.includes("gone.sock")));
  } finally {
    for (const c of clients) c.close();
    await t.finish();
  }
  assert.throws(() => Deno.lstatSync(t.path("keep.sock")), Deno.errors.NotFound);
});

Deno.test("allow_uids/allow_gids: a listed peer is served, an unlisted one gets access denied", async () => {
  const other = UID + 1;
  const t = await start((dir) => [
    spec(`${dir}/mine.sock`, { allowUids: new Set([UID]) }),
    spec(`${dir}/group.sock`, { allowUids: new Set([other]), allowGids: new Set([GID]) }),
    spec(`${dir}/theirs.sock`, { allowUids: new Set([other]), allowGids: new Set([other]) }),
  ]);
  const clients: Client[] = [];
  try {
    for (const name of ["mine.sock", "group.sock"]) {
      const c = await Client.connect(t.path(name));
      clients.push(c);
      await c.open();
      await c.works();
    }
    const refused = await Client.connect(t.path("theirs.sock"));
    clients.push(refused);
    assertErrorReply(
      await refused.call(RemoteProc.AUTH_LIST),
      `virtmux does not allow uid ${UID} (gid ${GID}) on "${
        t.path("theirs.sock")
      }": not in the listener's allow_uids/allow_gids`,
      ErrorCode.ACCESS_DENIED,
    );
    assert.equal(await refused.frames.next(), null, "the refused client is closed");
    assert.equal(t.upstream.pairs.length, 2, "the refused client never dialled upstream");
    const line = t.lines.find((l) => l.includes("Client refused: credentials not allowed"));
    assert.ok(line?.includes(`uid=${UID}`) && line.includes(`pid=${Deno.pid}`), line);
  } finally {
    for (const c of clients) c.close();
    await t.finish();
  }
});

Deno.test("reload: turning allow_uids on and off swaps the socket in place; clients stay", async () => {
  const t = await start((dir) => [spec(`${dir}/a.sock`)]);
  const clients: Client[] = [];
  try {
    const before = await Client.connect(t.path("a.sock"));
    clients.push(before);
    await before.open();
    const other = UID + 1;
    const strict = spec(t.path("a.sock"), { allowUids: new Set([other]) });
    assert.deepEqual(await t.server.reload([strict], 100), []);
    await before.works();
    const refused = await Client.connect(t.path("a.sock"));
    clients.push(refused);
    assertErrorReply(
      await refused.call(RemoteProc.AUTH_LIST),
      /does not allow uid/,
      ErrorCode.ACCESS_DENIED,
    );
    assert.deepEqual(await t.server.reload([spec(t.path("a.sock"))], 100), []);
    const after = await Client.connect(t.path("a.sock"));
    clients.push(after);
    await after.open();
    await after.works();
    await before.works();
  } finally {
    for (const c of clients) c.close();
    await t.finish();
  }
  assert.throws(() => Deno.lstatSync(t.path("a.sock")), Deno.errors.NotFound);
});

Deno.test("reload: a listener that cannot open is a problem, the others still apply", async () => {
  const t = await start((dir) => [spec(`${dir}/a.sock`)]);
  try {
    await Deno.writeTextFile(t.path("file"), "");
    const problems = await t.server.reload([
      spec(t.path("a.sock")),
      spec(t.path("file")),
      spec(t.path("b.sock")),
    ], 100);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /Cannot listen on ".*\/file": the path exists and is not a socket/);
    assert.deepEqual(t.server.sockets.sort(), [t.path("a.sock"), t.path("b.sock")]);
    const c = await Client.connect(t.path("b.sock"));
    await c.open();
    c.close();
  } finally {
    await t.finish();
  }
});

Deno.test("reload: a lower global max_clients applies to new clients", async () => {
  const t = await start((dir) => [spec(`${dir}/a.sock`)], 10);
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await Client.connect(t.path("a.sock"));
      clients.push(c);
      await c.open();
    }
    await t.server.reload([spec(t.path("a.sock"))], 2);
    const extra = await Client.connect(t.path("a.sock"));
    clients.push(extra);
    assertErrorReply(
      await extra.call(RemoteProc.AUTH_LIST),
      /reached its limit of 2 clients/,
      ErrorCode.RPC,
    );
    for (const c of clients.slice(0, 2)) await c.works();
  } finally {
    for (const c of clients) c.close();
    await t.finish();
  }
});

Deno.test("a read-only listener dials read-only and sets VIR_CONNECT_RO in the open", async () => {
  const t = await start((dir) => [spec(`${dir}/ro.sock`, { readonly: true })]);
  const c = await Client.connect(t.path("ro.sock"));
  try {
    await c.open();
    const open = t.upstream.calls.find((x) => readHeader(x.frame).procedure === 1);
    assert.ok(open);
    assert.equal(open.readonly, true);
    assert.equal(readU32(open.frame, open.frame.length - 4) & 1, 1);
  } finally {
    c.close();
    await t.finish();
  }
});

Deno.test("open_timeout closes a client that never opens (sweep once a second)", async () => {
  const t = await start((dir) => [
    spec(`${dir}/a.sock`, { timeouts: { openMs: 1000, frameMs: 0, idleMs: 0 } }),
  ]);
  const silent = await Client.connect(t.path("a.sock"));
  const opened = await Client.connect(t.path("a.sock"));
  try {
    await opened.open();
    const took = await silent.closedWithin(2500);
    assert.ok(took >= 900, `closed after ${took} ms, before the timeout`);
    assert.ok(t.lines.some((l) =>
      l.includes("Closing client: timeout") &&
      l.includes("sent no CONNECT_OPEN within 1 s (open_timeout)")
    ));
    await opened.works();
  } finally {
    silent.close();
    opened.close();
    await t.finish();
  }
});

Deno.test("frame_timeout closes a client stalled in the middle of a frame", async () => {
  const t = await start((dir) => [
    spec(`${dir}/a.sock`, { timeouts: { openMs: 0, frameMs: 1000, idleMs: 0 } }),
  ]);
  const stalled = await Client.connect(t.path("a.sock"));
  const steady = await Client.connect(t.path("a.sock"));
  try {
    await stalled.open();
    await steady.open();
    // Half a header, then nothing.
    await stalled.conn.write(frame({ procedure: 157, serial: 9 }).subarray(0, 14));
    const began = Date.now();
    // The steady client keeps calling, slower than the timeout, and is never closed.
    const keepCalling = (async () => {
      for (let i = 0; i < 4; i++) {
        await new Promise((resolve) => setTimeout(resolve, 600));
        await steady.works();
      }
    })();
    const took = await stalled.closedWithin(2500);
    assert.ok(took >= 900, `closed after ${took} ms, before the timeout`);
    await keepCalling;
    assert.ok(Date.now() - began >= 2400);
    assert.ok(t.lines.some((l) =>
      l.includes("Closing client: timeout") &&
      l.includes("stalled in the middle of a frame for 1 s (frame_timeout)")
    ));
  } finally {
    stalled.close();
    steady.close();
    await t.finish();
  }
});

Deno.test("idle_timeout closes an idle client but not one with a call outstanding", async () => {
  const t = await start((dir) => [
    spec(`${dir}/a.sock`, { timeouts: { openMs: 0, frameMs: 0, idleMs: 1000 } }),
  ]);
  const idle = await Client.connect(t.path("a.sock"));
  const waiting = await Client.connect(t.path("a.sock"));
  try {
    await idle.open();
    await waiting.open();
    await waiting.send(HOLD_PROC); // never answered
    await idle.closedWithin(2500);
    assert.ok(t.lines.some((l) => l.includes("idle for 1 s (idle_timeout)")));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(t.server.clientCount, 1, "the client with a call outstanding stays");
  } finally {
    idle.close();
    waiting.close();
    await t.finish();
  }
});

Deno.test("observers: every client is watched with its credentials, refused ones too", async () => {
  const seen: { identity: ClientIdentity; events: string[] }[] = [];
  const observers: SessionObservers = {
    observe(identity) {
      const events: string[] = [];
      seen.push({ identity, events });
      return {
        fromClient: () => void events.push("from") as undefined,
        toClient: () => void events.push("to") as undefined,
        closed: (reason) => void events.push(`closed: ${reason}`),
      };
    },
  };
  const t = await start(
    (dir) => [
      spec(`${dir}/open.sock`),
      spec(`${dir}/theirs.sock`, { allowUids: new Set([UID + 1]) }),
    ],
    100,
    { observers, peerCredentials: true },
  );
  try {
    const c = await Client.connect(t.path("open.sock"));
    await c.open();
    await c.works();
    c.close();
    await until("the session to end", () => seen[0]?.events.some((e) => e.startsWith("closed")));
    assert.deepEqual(seen[0].identity, {
      listener: t.path("open.sock"),
      client: 1,
      uid: UID,
      gid: GID,
      pid: Deno.pid,
    });
    assert.deepEqual(seen[0].events.slice(0, 4), ["from", "to", "from", "to"]);
    const refused = await Client.connect(t.path("theirs.sock"));
    await refused.call(RemoteProc.AUTH_LIST);
    refused.close();
    assert.equal(seen[1].identity.uid, UID);
    assert.equal(seen[1].events.length, 1);
    assert.match(seen[1].events[0], /^closed: refused: virtmux does not allow uid/);
  } finally {
    await t.finish();
  }
});

Deno.test("a tcp front: clients logged with their address; reload keeps or removes it", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const label = `tcp://127.0.0.1:${port}`;
  const front = spec(label, {
    front: { kind: "tcp", hostname: "127.0.0.1", port, allowDns: new Map() },
  });
  const t = await start(() => [front]);
  const conns: Deno.TcpConn[] = [];
  try {
    const call = async (conn: Deno.TcpConn, procedure: number, body?: Uint8Array) => {
      await conn.write(frame({ procedure, serial: 1, body }));
      const reply = await new FrameSource(conn).next();
      assert.ok(reply, "a reply");
      return readHeader(reply);
    };
    const first = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(first);
    assert.equal((await call(first, RemoteProc.CONNECT_OPEN, OPEN_ARGS)).status, MessageStatus.OK);
    const local = first.localAddr as Deno.NetAddr;
    assert.ok(t.lines.some((l) => l.includes("Plain TCP front") && l.includes(label)));
    assert.ok(t.lines.some((l) => l.includes("Client connected") && l.includes(`:${local.port}`)));
    // Same address: the front stays, and so does its client.
    assert.deepEqual(await t.server.reload([front], 100), []);
    assert.equal(
      (await call(first, RemoteProc.CONNECT_GET_LIB_VERSION)).status,
      MessageStatus.OK,
    );
    // Removed: no new clients, the connected one stays.
    assert.deepEqual(await t.server.reload([], 100), []);
    await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
    assert.equal(
      (await call(first, RemoteProc.CONNECT_GET_LIB_VERSION)).status,
      MessageStatus.OK,
    );
  } finally {
    for (const conn of conns) conn.close();
    await t.finish();
  }
});
