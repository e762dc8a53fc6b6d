/**
 * Malformed input through a real virtmux socket: each bad client is closed on its own, with the
 * reason and its numbers in virtmux's log, while a virsh running at the same moment is served and
 * the proxy keeps serving afterwards.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { MessageStatus, MessageType, Program, RemoteProc } from "../../src/wire/constants.ts";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader } from "../../src/wire/header.ts";
import { frame, FrameSource, words } from "../_helpers/frames.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, waitFor } from "./helpers/process.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh, type VirshResult } from "./helpers/virsh.ts";
import { startVirtmux } from "./helpers/virtmux.ts";

/** The limit before CONNECT_OPEN (issue 11): these clients have not opened. */
const LIMIT = 69632;

/** Writes all of `data`. */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

/** Resolves to "eof" when the connection ends, or "timeout" after `ms`; bytes read are counted. */
async function readToEnd(conn: Deno.Conn, ms = 5000): Promise<{ end: string; bytes: number }> {
  const buffer = new Uint8Array(65536);
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    while (true) {
      const n = await Promise.race([conn.read(buffer).catch(() => null), timeout]);
      if (n === "timeout") return { end: "timeout", bytes };
      if (n === null) return { end: "eof", bytes };
      bytes += n;
    }
  } finally {
    clearTimeout(timer);
  }
}

function assertListed(result: VirshResult): void {
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
}

Deno.test("bad input closes only the client that sent it", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("bad-input");
  const socket = join(dir, "proxy.sock");
  let virtmux: Awaited<ReturnType<typeof startVirtmux>> | undefined;
  const connect = () => Deno.connect({ transport: "unix", path: socket });
  const uri = `test+unix:///default?socket=${socket}`;
  /** Runs `bad` while a virsh lists the domains through the same proxy. */
  const alongside = async (bad: () => Promise<void>) => {
    const [listed] = await Promise.all([virsh(uri, ["list", "--all"]), bad()]);
    assertListed(listed);
  };
  try {
    virtmux = await startVirtmux(`
[limits]
shutdown_grace = 1

[[upstream]]
name = "test"
uri = "${libvirtd.uris.unix}"
share = false

[[listen]]
socket = "${socket}"
upstream = "test"
`);

    await t.step("a length of 0x7ffffff0: an error reply naming the limit, then EOF", async () => {
      await alongside(async () => {
        const conn = await connect();
        try {
          await writeAll(
            conn,
            frame({ length: 0x7ffffff0, procedure: RemoteProc.AUTH_LIST, serial: 4242 }),
          );
          const frames = new FrameSource(conn);
          const reply = await frames.next();
          assert.ok(reply, "no reply before EOF");
          const header = readHeader(reply);
          assert.equal(header.serial, 4242);
          assert.equal(header.type, MessageType.REPLY);
          assert.equal(header.status, MessageStatus.ERROR);
          assert.equal(header.program, Program.REMOTE);
          assert.equal(header.procedure, RemoteProc.AUTH_LIST);
          const error = decodeErrorReply(reply);
          assert.equal(error.code, 39);
          assert.match(error.message ?? "", /2147483632/);
          assert.match(error.message ?? "", new RegExp(`${LIMIT}`));
          assert.equal(await frames.next(), null);
        } finally {
          conn.close();
        }
      });
    });

    await t.step("a length of 3: EOF and no reply", async () => {
      await alongside(async () => {
        const conn = await connect();
        try {
          await writeAll(conn, words(3, 0, 0, 0, 0, 0, 0));
          assert.deepEqual(await readToEnd(conn), { end: "eof", bytes: 0 });
        } finally {
          conn.close();
        }
      });
    });

    await t.step("an unknown program: EOF", async () => {
      await alongside(async () => {
        const conn = await connect();
        try {
          await writeAll(conn, frame({ program: 0x12345678, serial: 1 }));
          assert.deepEqual(await readToEnd(conn), { end: "eof", bytes: 0 });
        } finally {
          conn.close();
        }
      });
    });

    await t.step("a frame cut off mid-header, then EOF: the session ends", async () => {
      await alongside(async () => {
        const conn = await connect();
        try {
          await writeAll(conn, frame({ serial: 9 }).subarray(0, 10));
          await conn.closeWrite();
          assert.deepEqual(await readToEnd(conn), { end: "eof", bytes: 0 });
        } finally {
          conn.close();
        }
      });
    });

    await t.step("200 connections opened and dropped at once", async () => {
      await alongside(async () => {
        const conns = await Promise.all(Array.from({ length: 200 }, connect));
        for (const conn of conns) conn.close();
      });
      // Every upstream connection made for them is closed again.
      await waitFor(
        "libvirtd to have no clients",
        async () => (await libvirtd.clientCount()) === 0,
        {
          timeoutMs: 15000,
        },
      );
    });

    await t.step(
      "afterwards virtmux still serves, with one upstream client per client",
      async () => {
        assertListed(await virsh(uri, ["list", "--all"]));
        const conn = await connect();
        try {
          await waitFor("one libvirtd client", async () => (await libvirtd.clientCount()) === 1);
        } finally {
          conn.close();
        }
        await waitFor("no libvirtd clients", async () => (await libvirtd.clientCount()) === 0);
      },
    );

    await t.step("SIGTERM: exit 0", async () => {
      assert.equal((await virtmux!.stop()).code, 0);
      await assert.rejects(Deno.lstat(socket), Deno.errors.NotFound);
    });

    // The harness's log pump (process.ts pumpToFile, pipeTo into a file) writes only when the
    // process exits, so the log is read once virtmux has stopped.
    await t.step("virtmux's log has each reason with its numbers", async () => {
      const lines = (await virtmux!.logText()).split("\n");
      const line = (pattern: RegExp) => {
        const found = lines.find((l) => pattern.test(l));
        assert.ok(found, `no log line matches ${pattern}:\n${lines.join("\n")}`);
        return found;
      };
      const oversized = line(
        /length 2147483632 exceeds the limit of 69632 bytes before CONNECT_OPEN has succeeded/,
      );
      assert.match(oversized, /Closing client after an invalid frame/);
      assert.match(oversized, /length=2147483632/);
      assert.match(oversized, new RegExp(`limit=${LIMIT}`));
      assert.match(line(/length 3 is below the 28-byte minimum/), /length=3\b/);
      line(/program \S*(12345678|305419896)\S* is not allowed/i);
      assert.match(line(/middle of a frame/), /bytes=10\b/);
    });
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
