import assert from "node:assert/strict";
import { Logger } from "../../../src/log/logger.ts";
import { connectionLost, type PoolParts } from "../../../src/proxy/shared/connection_loss.ts";
import type { EventFanout } from "../../../src/proxy/shared/event_fanout.ts";
import { PendingCalls } from "../../../src/proxy/shared/pending_calls.ts";
import type { PoolClient } from "../../../src/proxy/shared/pool_client.ts";
import type { ConnectionScheduler } from "../../../src/proxy/shared/scheduler.ts";
import { StreamRoutes } from "../../../src/proxy/shared/stream_routes.ts";
import type { UpstreamConnection } from "../../../src/proxy/shared/upstream_connection.ts";
import { Program } from "../../../src/wire/constants.ts";
import { decodeErrorReply } from "../../../src/wire/error_reply.ts";
import { readHeader } from "../../../src/wire/header.ts";
import { delay } from "../../_helpers/wait.ts";

/** A client that records what it is handed and why it was closed. */
class Client implements PoolClient {
  readonly frames: Uint8Array[] = [];
  lostReason = "";
  constructor(readonly id: string) {}
  deliver(frame: Uint8Array): undefined {
    this.frames.push(frame.slice());
  }
  lost(reason: string): void {
    this.lostReason = reason;
  }
}

const LIST_DOMAINS = 273;

/** Pool parts around one connection `c1`; `others` more connections stay open after its loss. */
function setup(options: { others?: number; retired?: boolean; registered?: Client[] } = {}) {
  const c1 = { id: 1 } as unknown as UpstreamConnection;
  const streams = new StreamRoutes();
  const pending = new PendingCalls(streams);
  pending.opened(c1);
  const clients = new Set<Client>();
  let lostTold = 0;
  const scheduler = {
    retired: () => options.retired === true,
    lost: () => lostTold++,
    get size() {
      return options.others ?? 0;
    },
  } as unknown as ConnectionScheduler;
  const events = {
    registrations: { connectionLost: () => new Set(options.registered ?? []) },
  } as unknown as EventFanout;
  const parts: PoolParts = {
    label: `"hv1" (test:///default)`,
    clients,
    pending,
    streams,
    events,
    scheduler,
    survival: undefined,
    logger: new Logger({ sink: () => {}, level: "debug" }),
  };
  const call = (client: Client, serial: number, clientSerial: number) =>
    pending.add(c1, serial, {
      client,
      clientSerial,
      program: Program.REMOTE,
      procedure: LIST_DOMAINS,
      stream: undefined,
      registration: undefined,
      leaving: undefined,
    });
  return { c1, parts, clients, call, lostTold: () => lostTold };
}

Deno.test("each call outstanding gets an error naming the upstream, then its client is closed", async () => {
  const t = setup({ others: 1 });
  const a = new Client("a");
  const b = new Client("b");
  t.clients.add(a).add(b);
  t.call(a, 10, 3);
  t.call(b, 11, 7);
  connectionLost(t.parts, t.c1, "closed the connection");
  for (const [client, serial] of [[a, 3], [b, 7]] as const) {
    assert.equal(client.frames.length, 1);
    const header = readHeader(client.frames[0]);
    assert.equal(header.serial, serial);
    assert.equal(header.procedure, LIST_DOMAINS);
    assert.equal(
      decodeErrorReply(client.frames[0]).message,
      `Upstream "hv1" (test:///default) closed the connection`,
    );
  }
  await delay(0);
  // Its call died with the connection, as its own connection would have: it is closed too.
  assert.match(a.lostReason, /closed the connection/);
  assert.equal(t.lostTold(), 1, "the scheduler is told");
});

Deno.test("clients whose registrations lived there are closed after their answers", async () => {
  const a = new Client("a");
  const bystander = new Client("b");
  const t = setup({ others: 1, registered: [a] });
  t.clients.add(a).add(bystander);
  connectionLost(t.parts, t.c1, "closed the connection");
  await delay(0);
  assert.equal(a.lostReason, `Upstream "hv1" (test:///default) closed the connection`);
  assert.equal(bystander.lostReason, "");
});

Deno.test("a failure taking the last connection closes every client; a retired one closes none", async () => {
  const failed = setup({ others: 0 });
  const a = new Client("a");
  failed.clients.add(a);
  connectionLost(failed.parts, failed.c1, "closed the connection");
  await delay(0);
  assert.match(a.lostReason, /closed the connection/);

  const retired = setup({ others: 0, retired: true });
  const b = new Client("b");
  retired.clients.add(b);
  connectionLost(retired.parts, retired.c1, "idle for 60 s");
  await delay(0);
  assert.equal(b.lostReason, "", "the pool closed it itself (idle): nobody loses anything");
});

Deno.test("a client that already left is neither answered nor closed", async () => {
  const t = setup({ others: 0 });
  const gone = new Client("gone");
  t.call(gone, 10, 3);
  connectionLost(t.parts, t.c1, "closed the connection");
  await delay(0);
  assert.equal(gone.frames.length, 0);
  assert.equal(gone.lostReason, "");
});
