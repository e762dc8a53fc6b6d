import assert from "node:assert/strict";
import { writeAll } from "../../src/transport/channel.ts";
import {
  channelDiagnostics,
  spawnChannel,
  startCommand,
} from "../../src/transport/child_channel.ts";
import { DialError } from "../../src/transport/channel.ts";
import { Logger } from "../../src/log/logger.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function quietLogger(lines: string[] = []): Logger {
  return new Logger({ level: "debug", sink: (line) => lines.push(line) });
}

/** Live (non-zombie) members of process group `pgid`, from /proc. */
function liveGroupMembers(pgid: number): number[] {
  const live: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") live.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return live;
}

async function readAll(channel: { read(b: Uint8Array): Promise<number | null> }, size: number) {
  const out = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    const count = await channel.read(out.subarray(got));
    if (count === null) break;
    got += count;
  }
  return out.subarray(0, got);
}

Deno.test("child channel echoes through cat, in reads smaller than the chunks", async () => {
  const channel = spawnChannel(["cat"], { name: "cat", logger: quietLogger() });
  try {
    await writeAll(channel, encoder.encode("hello, libvirt"));
    const small = new Uint8Array(5);
    assert.equal(await channel.read(small), 5);
    assert.equal(decoder.decode(small), "hello");
    assert.equal(decoder.decode(await readAll(channel, 9)), ", libvirt");
    await channel.closeWrite();
    assert.equal(await channel.read(new Uint8Array(8)), null);
  } finally {
    channel.close();
    await channel.status;
  }
});

Deno.test("child channel carries 64 MiB intact", async () => {
  const channel = spawnChannel(["cat"], { name: "cat", logger: quietLogger() });
  try {
    const block = new Uint8Array(1 << 20).map((_, i) => i * 7);
    const writer = (async () => {
      for (let i = 0; i < 64; i++) await writeAll(channel, block);
      await channel.closeWrite();
    })();
    const buffer = new Uint8Array(1 << 16);
    let total = 0;
    let mismatch = -1;
    for (;;) {
      const count = await channel.read(buffer);
      if (count === null) break;
      for (let i = 0; i < count && mismatch < 0; i++) {
        if (buffer[i] !== block[(total + i) % block.length]) mismatch = total + i;
      }
      total += count;
    }
    await writer;
    assert.equal(total, 64 << 20);
    assert.equal(mismatch, -1);
  } finally {
    channel.close();
    await channel.status;
  }
});

Deno.test("child channel reports stderr and exit status of a command that exits at once", async () => {
  const lines: string[] = [];
  const channel = spawnChannel(
    ["sh", "-c", "echo 'Permission denied (publickey).' >&2; exit 255"],
    {
      name: "hv1",
      logger: quietLogger(lines),
    },
  );
  try {
    assert.equal(await channel.read(new Uint8Array(16)), null);
    assert.equal(
      channelDiagnostics(channel),
      "Permission denied (publickey). (command exited with status 255)",
    );
    assert.deepEqual(await channel.status, { code: 255, signal: null });
    assert.ok(
      lines.some((line) => line.includes("upstream=hv1") && line.includes("Permission denied")),
    );
    await assert.rejects(
      () => writeAll(channel, new Uint8Array(100000)),
      /Cannot write to upstream "hv1"/,
    );
  } finally {
    channel.close();
  }
});

Deno.test("child channel keeps only the tail of a long stderr", async () => {
  const channel = spawnChannel(["sh", "-c", "seq 1 5000 >&2; echo last >&2"], {
    name: "hv1",
    logger: quietLogger(),
    stderrTailBytes: 64,
  });
  try {
    assert.equal(await channel.read(new Uint8Array(1)), null);
    const text = channelDiagnostics(channel);
    assert.ok(text.length <= 64, text);
    assert.ok(text.endsWith("last"), text);
  } finally {
    channel.close();
    await channel.status;
  }
});

Deno.test("child channel refuses a command that does not exist", () => {
  assert.throws(
    () => spawnChannel(["/nonexistent/virtmux-test"], { name: "x", logger: quietLogger() }),
    Deno.errors.NotFound,
  );
});

Deno.test("startCommand names the upstream, the URI and the program it could not run", () => {
  assert.throws(
    () =>
      startCommand(
        'Cannot connect to upstream "hv1" (qemu+ext:///system?command=/nonexistent/x)',
        ["/nonexistent/x"],
        "hv1",
        quietLogger(),
      ),
    (error: unknown) => {
      assert.ok(error instanceof DialError);
      assert.match(
        error.message,
        /^Cannot connect to upstream "hv1" \(qemu\+ext:\/\/\/system\?command=\/nonexistent\/x\): cannot run "\/nonexistent\/x": /,
      );
      assert.ok(error.cause instanceof Deno.errors.NotFound);
      return true;
    },
  );
});

Deno.test("child channel close ends the whole process group and reaps the child", async () => {
  const channel = spawnChannel(["sh", "-c", "sleep 300 & sleep 301 & cat"], {
    name: "hv1",
    logger: quietLogger(),
  });
  await writeAll(channel, encoder.encode("x"));
  assert.equal(await channel.read(new Uint8Array(1)), 1);
  assert.ok(liveGroupMembers(channel.pid).length >= 3);
  channel.close();
  const exit = await channel.status;
  // The SIGTERM, or cat's own exit at the EOF that closing its stdin gives it (a loaded machine
  // may run cat first): either way the child is reaped; what matters is the group below.
  assert.ok(exit.signal === "SIGTERM" || exit.code === 0, `exit ${JSON.stringify(exit)}`);
  for (let i = 0; i < 50 && liveGroupMembers(channel.pid).length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(liveGroupMembers(channel.pid), []);
  assert.equal(await channel.read(new Uint8Array(1)), null);
  channel.close();
});

Deno.test("child channel close sends SIGKILL to a group that ignores SIGTERM", async () => {
  const channel = spawnChannel(
    ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"],
    {
      name: "hv1",
      logger: quietLogger(),
      killGraceMs: 100,
    },
  );
  assert.equal(decoder.decode(await readAll(channel, 6)), "ready\n");
  channel.close();
  const exit = await channel.status;
  assert.equal(exit.signal, "SIGKILL");
  for (let i = 0; i < 50 && liveGroupMembers(channel.pid).length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(liveGroupMembers(channel.pid), []);
});
