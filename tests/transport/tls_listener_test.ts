import assert from "node:assert/strict";
import * as tls from "node:tls";
import { Logger } from "../../src/log/logger.ts";
import { listenTls, type TlsFrontOptions } from "../../src/transport/tls_listener.ts";
import { makePki, type Pki } from "../integration/helpers/pki.ts";
import { tempDir } from "../integration/helpers/tmp.ts";

function options(pki: Pki, lines: string[], extra: Partial<TlsFrontOptions> = {}): TlsFrontOptions {
  return {
    keyFile: pki.server.key,
    certFile: pki.server.cert,
    caFile: pki.ca.cert,
    noVerifyCertificate: false,
    handshakeTimeoutMs: 5000,
    logger: new Logger({ level: "debug", sink: (line) => lines.push(line) }),
    ...extra,
  };
}

/** Connects as a libvirt client would; resolves to what the server sent before it closed. */
function connect(
  pki: Pki,
  port: number,
  withCert: boolean | { cert: string; key: string },
  send?: Uint8Array,
): Promise<number[]> {
  const files = withCert === true ? pki.client : withCert || undefined;
  return new Promise((resolve) => {
    const received: number[] = [];
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: Deno.readTextFileSync(pki.ca.cert),
      ...(files && {
        cert: Deno.readTextFileSync(files.cert),
        key: Deno.readTextFileSync(files.key),
      }),
    });
    socket.on("data", (chunk: Uint8Array) => {
      received.push(...chunk);
      if (send !== undefined && received.length === 1) socket.write(send);
      else if (send === undefined || received.length > 1) socket.end();
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(received));
  });
}

Deno.test("tls_listener: a verified client gets the confirmation byte, then a channel", async () => {
  await using dir = await tempDir("tls-listener");
  const pki = await makePki(dir.path);
  const lines: string[] = [];
  const listener = await listenTls(
    { hostname: "127.0.0.1", port: 0 },
    "tls://127.0.0.1:0",
    options(pki, lines, { allowedDns: ["O=virtmux,CN=virtmux-*"], handshakeTimeoutMs: 300 }),
  );
  try {
    const clients = listener.clients()[Symbol.asyncIterator]();
    const received = connect(pki, listener.port, true, new Uint8Array([42]));
    const accepted = (await clients.next()).value!;
    assert.equal(accepted.certificateDn, "O=virtmux,CN=virtmux-test-client");
    assert.match(accepted.address!, /^127\.0\.0\.1:\d+$/);
    // Past the handshake deadline (300 ms here) an admitted client stays.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const buffer = new Uint8Array(8);
    assert.equal(await accepted.channel.read(buffer), 1);
    assert.equal(buffer[0], 42);
    await accepted.channel.write(new Uint8Array([7]));
    await accepted.channel.closeWrite();
    assert.deepEqual(await received, [1, 7]);
    accepted.channel.close();
  } finally {
    listener.close();
  }
});

Deno.test("tls_listener: refusals drop the client without the byte; no_verify lets it in", async () => {
  await using dir = await tempDir("tls-listener");
  const pki = await makePki(dir.path);
  const lines: string[] = [];
  const listener = await listenTls(
    { hostname: "127.0.0.1", port: 0 },
    "tls://127.0.0.1:0",
    options(pki, lines, { allowedDns: ["O=nobody,*"] }),
  );
  try {
    assert.deepEqual(await connect(pki, listener.port, true), []);
    assert.deepEqual(await connect(pki, listener.port, false), []);
    assert.match(lines.join("\n"), /not on the list of allowed clients/);
    assert.match(lines.join("\n"), /No certificate was found/);

    await listener.reload(options(pki, lines, { noVerifyCertificate: true }));
    const clients = listener.clients()[Symbol.asyncIterator]();
    const received = connect(pki, listener.port, false);
    const accepted = (await clients.next()).value!;
    assert.equal(accepted.certificateDn, undefined);
    await accepted.channel.closeWrite();
    assert.deepEqual(await received, [1]);
    accepted.channel.close();
  } finally {
    listener.close();
  }
});

Deno.test("tls_listener: expired and foreign certificates are refused", async () => {
  await using dir = await tempDir("tls-listener");
  const pki = await makePki(dir.path, { expiredClient: true, otherCa: true });
  const lines: string[] = [];
  const listener = await listenTls(
    { hostname: "127.0.0.1", port: 0 },
    "tls://127.0.0.1:0",
    options(pki, lines),
  );
  try {
    assert.deepEqual(await connect(pki, listener.port, pki.expiredClient!.client), []);
    assert.deepEqual(await connect(pki, listener.port, pki.otherCa!.client), []);
    const refusals = lines.filter((line) => line.includes("Certificate failed validation"));
    assert.equal(refusals.length, 2, lines.join("\n"));
  } finally {
    listener.close();
  }
});

Deno.test("tls_listener: files that cannot be used are named; a failed reload keeps the old", async () => {
  await using dir = await tempDir("tls-listener");
  const pki = await makePki(dir.path);
  const lines: string[] = [];
  await assert.rejects(
    listenTls({ hostname: "127.0.0.1", port: 0 }, "tls://x", {
      ...options(pki, lines),
      certFile: "/nonexistent/servercert.pem",
    }),
    /Cannot listen on "tls:\/\/x": cannot read cert_file "\/nonexistent\/servercert.pem"/,
  );
  const listener = await listenTls(
    { hostname: "127.0.0.1", port: 0 },
    "tls://x",
    options(pki, lines),
  );
  try {
    await assert.rejects(
      listener.reload({ ...options(pki, lines), crlFile: pki.ca.cert }),
      /Cannot listen on "tls:\/\/x": Cannot read CRL/,
    );
    const clients = listener.clients()[Symbol.asyncIterator]();
    const received = connect(pki, listener.port, true);
    (await clients.next()).value!.channel.close();
    assert.deepEqual(await received, [1]);
  } finally {
    listener.close();
  }
});

Deno.test("tls_listener: a client that never completes the handshake is dropped", async () => {
  await using dir = await tempDir("tls-listener");
  const pki = await makePki(dir.path);
  const lines: string[] = [];
  const listener = await listenTls(
    { hostname: "127.0.0.1", port: 0 },
    "tls://x",
    options(pki, lines, { handshakeTimeoutMs: 100 }),
  );
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
    const buffer = new Uint8Array(16);
    const result = await conn.read(buffer).catch(() => null);
    assert.equal(result, null);
    conn.close();
    assert.match(lines.join("\n"), /TLS handshake timed out/);
  } finally {
    listener.close();
  }
});
