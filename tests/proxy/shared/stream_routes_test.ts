import assert from "node:assert/strict";
import type { PoolClient } from "../../../src/proxy/shared/pool_client.ts";
import { StreamRoutes } from "../../../src/proxy/shared/stream_routes.ts";
import type { UpstreamConnection } from "../../../src/proxy/shared/upstream_connection.ts";
import { MessageStatus, MessageType, Program } from "../../../src/wire/constants.ts";
import { readHeader } from "../../../src/wire/header.ts";
import { frame, words } from "../../_helpers/frames.ts";

/** DOMAIN_SCREENSHOT, a readstream. */
const SCREENSHOT = 211;

/** What the routes use of a connection: closed, and write. Records copies of what it is given. */
class FakeConnection {
  closed = false;
  readonly writes: Uint8Array[] = [];
  write(bytes: Uint8Array): Promise<void> {
    this.writes.push(bytes.slice());
    return Promise.resolve();
  }
}

class FakeClient implements PoolClient {
  readonly frames: Uint8Array[] = [];
  constructor(readonly id: string) {}
  deliver(bytes: Uint8Array): undefined {
    this.frames.push(bytes.slice());
    return undefined;
  }
  lost(): void {}
}

function asConnection(fake: FakeConnection): UpstreamConnection {
  return fake as unknown as UpstreamConnection;
}

function streamFrame(serial: number, status: number, body?: Uint8Array): Uint8Array {
  return frame({ procedure: SCREENSHOT, type: MessageType.STREAM, serial, status, body });
}

/** A stream opened by client serial 5, routed as upstream serial 40 on one connection. */
function setup() {
  const routes = new StreamRoutes();
  const fake = new FakeConnection();
  const connection = asConnection(fake);
  const client = new FakeClient("a");
  const route = routes.open(
    client,
    { program: Program.REMOTE, procedure: SCREENSHOT, clientSerial: 5 },
    connection,
    40,
  );
  return { routes, fake, connection, client, route };
}

Deno.test("the daemon's stream data reaches the client with the client's serial", async () => {
  const t = setup();
  assert.equal(t.routes.countOn(t.connection), 1);
  assert.equal(t.routes.usesSerial(t.connection, 40), true);
  assert.equal(t.routes.usesSerial(t.connection, 5), false);
  const data = streamFrame(40, MessageStatus.CONTINUE, words(1, 2));
  await t.routes.fromServer(t.connection, data, () => true);
  assert.deepEqual(t.client.frames, [streamFrame(5, MessageStatus.CONTINUE, words(1, 2))]);
});

Deno.test("the client's stream data goes upstream with the upstream serial", async () => {
  const t = setup();
  await t.routes.fromClient(t.client, streamFrame(5, MessageStatus.CONTINUE, words(9)));
  const hole = frame({ procedure: SCREENSHOT, type: MessageType.STREAM_HOLE, serial: 5 });
  await t.routes.fromClient(t.client, hole);
  assert.deepEqual(t.fake.writes.map((f) => [readHeader(f).type, readHeader(f).serial]), [
    [MessageType.STREAM, 40],
    [MessageType.STREAM_HOLE, 40],
  ]);
});

Deno.test("stream frames for no open stream are dropped, as the daemon would drop them", () => {
  const t = setup();
  assert.equal(t.routes.fromClient(t.client, streamFrame(6, MessageStatus.CONTINUE)), undefined);
  assert.equal(
    t.routes.fromClient(new FakeClient("b"), streamFrame(5, MessageStatus.CONTINUE)),
    undefined,
    "another client's serial 5 is not this stream",
  );
  assert.equal(
    t.routes.fromServer(t.connection, streamFrame(41, MessageStatus.CONTINUE), () => true),
    undefined,
  );
  assert.equal(
    t.routes.fromServer(asConnection(new FakeConnection()), streamFrame(40, 2), () => true),
    undefined,
    "serial 40 on another connection",
  );
  assert.deepEqual(t.fake.writes, []);
  assert.deepEqual(t.client.frames, []);
});

Deno.test("client data for a stream whose connection closed is dropped", () => {
  const t = setup();
  t.fake.closed = true;
  assert.equal(t.routes.fromClient(t.client, streamFrame(5, MessageStatus.CONTINUE)), undefined);
  assert.deepEqual(t.fake.writes, []);
});

Deno.test("a stream ends once both sides have finished, in either order", async () => {
  for (const clientFirst of [true, false]) {
    const t = setup();
    const finishClient = () => t.routes.fromClient(t.client, streamFrame(5, MessageStatus.OK));
    const finishServer = () =>
      t.routes.fromServer(t.connection, streamFrame(40, MessageStatus.OK), () => true);
    await (clientFirst ? finishClient() : finishServer());
    assert.equal(t.routes.usesSerial(t.connection, 40), true, "one side still open");
    await (clientFirst ? finishServer() : finishClient());
    assert.equal(t.routes.usesSerial(t.connection, 40), false, "both finished: serial free");
    assert.equal(t.routes.countOn(t.connection), 0);
    assert.equal(t.client.frames.length, 1, "the daemon's finish reached the client");
  }
});

Deno.test("a STREAM ERROR finishes a side like a STREAM OK", async () => {
  const t = setup();
  await t.routes.fromClient(t.client, streamFrame(5, MessageStatus.ERROR));
  await t.routes.fromServer(t.connection, streamFrame(40, MessageStatus.ERROR), () => true);
  assert.equal(t.routes.countOn(t.connection), 0);
});

Deno.test("data for a client no longer attached is dropped, but its finish still counts", async () => {
  const t = setup();
  await t.routes.fromClient(t.client, streamFrame(5, MessageStatus.OK));
  const detached = () => false;
  assert.equal(
    t.routes.fromServer(t.connection, streamFrame(40, MessageStatus.OK), detached),
    undefined,
  );
  assert.deepEqual(t.client.frames, []);
  assert.equal(t.routes.countOn(t.connection), 0);
});

Deno.test("a client leaving mid-stream aborts it upstream with an empty STREAM ERROR", () => {
  const t = setup();
  t.routes.abandon(t.client);
  assert.equal(t.fake.writes.length, 1);
  assert.deepEqual(
    t.fake.writes[0],
    frame({
      program: Program.REMOTE,
      procedure: SCREENSHOT,
      type: MessageType.STREAM,
      serial: 40,
      status: MessageStatus.ERROR,
    }),
  );
  assert.equal(t.routes.usesSerial(t.connection, 40), true, "reserved until the daemon ends it");
  // The daemon's last frame frees the serial; it reaches no client.
  const last = t.routes.fromServer(t.connection, streamFrame(40, MessageStatus.ERROR), () => false);
  assert.equal(last, undefined);
  assert.equal(t.routes.usesSerial(t.connection, 40), false);
  assert.deepEqual(t.client.frames, []);
  // The 10 s grace timer abandon() armed is unref'd; it finds the route gone when it fires.
});

Deno.test("a client leaving after the daemon finished frees the stream at once", () => {
  const t = setup();
  t.routes.fromServer(t.connection, streamFrame(40, MessageStatus.OK), () => true);
  t.routes.abandon(t.client);
  assert.equal(t.fake.writes.length, 1, "the daemon still learns the client aborted");
  assert.equal(t.routes.countOn(t.connection), 0);
});

Deno.test("a client leaving after both sides finished writes nothing", async () => {
  const t = setup();
  await t.routes.fromClient(t.client, streamFrame(5, MessageStatus.OK));
  const writes = t.fake.writes.length;
  t.routes.abandon(t.client);
  assert.equal(t.fake.writes.length, writes);
  t.routes.abandon(new FakeClient("never had a stream"));
});

Deno.test("a lost connection forgets its streams and returns their clients", () => {
  const t = setup();
  const other = asConnection(new FakeConnection());
  const b = new FakeClient("b");
  t.routes.open(b, { program: Program.REMOTE, procedure: SCREENSHOT, clientSerial: 5 }, other, 40);
  assert.deepEqual(t.routes.connectionLost(t.connection), new Set([t.client]));
  assert.equal(t.routes.countOn(t.connection), 0);
  assert.equal(t.routes.fromClient(t.client, streamFrame(5, MessageStatus.CONTINUE)), undefined);
  assert.equal(t.routes.countOn(other), 1, "the other connection's stream is untouched");
});

Deno.test("end() forgets a stream whose opening call failed", () => {
  const t = setup();
  t.routes.end(t.route);
  assert.equal(t.routes.usesSerial(t.connection, 40), false);
  assert.equal(t.routes.fromClient(t.client, streamFrame(5, MessageStatus.CONTINUE)), undefined);
});
