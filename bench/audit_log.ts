/**
 * `deno run -A bench/audit_log.ts [--records N]`: the audit log writer's figures, printed as
 * text: records/s of ~1 KB records in `block` mode (each `write()` awaited, as the tap would),
 * with sealing on, at the default sync policy and with fdatasync after every batch; the same from
 * four processes sharing one log; verify speed; and how many acked records a SIGKILL loses at
 * a few record rates.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { AuditLog, type AuditLogOptions } from "../src/audit/log/audit_log.ts";
import { keyId } from "../src/audit/log/chain.ts";
import { formatKeyState, newInitialKey } from "../src/audit/log/key_file.ts";
import { verifyLog } from "../src/audit/log/verify.ts";

const WRITER = fileURLToPath(new URL("../tests/audit/log/_writer_process.ts", import.meta.url));

const { values } = parseArgs({
  args: Deno.args,
  options: { records: { type: "string", default: "100000" } },
});
const RECORDS = Number(values.records);

/** A ~1 KB record such as a `request_response` call record. */
function record(n: number): Record<string, unknown> {
  return {
    kind: "call",
    listener: "hv1.sock",
    upstream: "hv1",
    uri: "qemu+tls://hv1.example.com/system",
    client: 17,
    identity: { uid: 1000, user: "alice", gid: 1000, group: "alice", pid: 4242 },
    program: "REMOTE",
    procedure: "DOMAIN_GET_XML_DESC",
    serial: n,
    status: "ok",
    latency_us: 812,
    bytes_in: 64,
    bytes_out: 900,
    object: { type: "domain", name: "vm-12", uuid: "4dea22b3-1d52-d8f3-2516-782e98ab3fa0" },
    args: { dom: { name: "vm-12" }, flags: 0 },
    ret: { xml: "<domain type='kvm'><name>vm-12</name>" + "x".repeat(560) + "</domain>" },
  };
}

async function keyedDir(): Promise<{ dir: string; state: string; key: Uint8Array }> {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-bench-audit-" });
  const key = newInitialKey();
  const state = join(dir, "state");
  await Deno.writeTextFile(state, formatKeyState({ keyId: keyId(key), epoch: 0, key }));
  return { dir, state, key };
}

async function inProcess(label: string, options: AuditLogOptions): Promise<void> {
  const { dir, state, key } = await keyedDir();
  try {
    const path = join(dir, "audit.jsonl");
    const log = await AuditLog.open(path, { keyStatePath: state, ...options });
    const started = performance.now();
    for (let n = 0; n < RECORDS; n++) await log.write(record(n));
    await log.close();
    const seconds = (performance.now() - started) / 1000;
    const bytes = [...Deno.readDirSync(dir)]
      .filter((e) => e.name.startsWith("audit.jsonl") && !e.name.endsWith(".lock"))
      .reduce((sum, e) => sum + Deno.statSync(join(dir, e.name)).size, 0);
    const stats = log.stats;
    console.log(
      `${label}: ${Math.round(RECORDS / seconds)} records/s, ` +
        `${(bytes / seconds / 1e6).toFixed(1)} MB/s, ${(bytes / RECORDS).toFixed(0)} B/record, ` +
        `${stats.batches} batches, ${stats.seals} seals`,
    );
    const verifyStart = performance.now();
    const result = await verifyLog([dir], { initialKey: key });
    const verifySeconds = (performance.now() - verifyStart) / 1000;
    if (result.failure !== undefined) throw new Error(`verify failed: ${result.failure.message}`);
    console.log(`  verify --key: ${Math.round(result.total / verifySeconds)} records/s`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function processes(count: number): Promise<void> {
  const { dir, state } = await keyedDir();
  try {
    const path = join(dir, "audit.jsonl");
    const each = Math.round(RECORDS / count);
    const started = performance.now();
    const outputs = await Promise.all(
      Array.from({ length: count }, (_, w) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", WRITER, path, state, `w${w}`, String(each), "0", "800", "1e9", "2"],
          stdout: "null",
          stderr: "piped",
        }).output()),
    );
    const seconds = (performance.now() - started) / 1000;
    for (const output of outputs) {
      if (output.code !== 0) throw new Error(new TextDecoder().decode(output.stderr));
    }
    console.log(
      `${count} processes on one log: ${Math.round((each * count) / seconds)} records/s in ` +
        `total (process start included)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function killLoss(rate: number): Promise<number> {
  const { dir, state } = await keyedDir();
  try {
    const path = join(dir, "audit.jsonl");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WRITER, path, state, "k", "100000000", String(rate), "1000", "1e9", "2"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let acked = -1;
    let rest = "";
    let killed = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const lines = (rest + value).split("\n");
      rest = lines.pop()!;
      if (lines.length > 0) acked = Number(lines.at(-1));
      if (!killed && acked >= rate) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
    await child.status;
    const text = await Deno.readTextFile(path);
    let last = -1;
    for (const match of text.matchAll(/"writer":"k","n":(\d+)/g)) last = Number(match[1]);
    return Math.max(0, acked - last);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

console.log(`audit log writer, ${RECORDS} records of ~1 KB, block mode, sealing every 5 s`);
await inProcess("sync every 100 ms (default)", {});
await inProcess("fdatasync after every batch", { syncIntervalMs: 0 });
await inProcess("rotating every 16 MiB, keep 20", { rotateBytes: 16 << 20, keep: 20 });
await processes(4);
for (const rate of [1000, 5000, 20000]) {
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) losses.push(await killLoss(rate));
  console.log(`SIGKILL at ${rate} records/s: acked records lost ${losses.join(", ")}`);
}
