/**
 * The audit log end to end: a private libvirtd, `virtmux serve` with `[audit] enabled = true`
 * and sealing, a dedicated listener over the daemon's tcp port and a shared one over its unix
 * socket, real virsh and python-libvirt clients. The log must hold the connects, the calls with
 * their decoded args (domain "test"), a policy denial made by virtmux, a destroy at
 * request_response, the lifecycle events, the screenshot stream's summary and the disconnects,
 * with each client's uid and pid; `virtmux audit verify` must pass on it and `audit show` print
 * it. Meanwhile tshark captures the tcp upstream's traffic, and Debian's libvirt dissector must
 * agree with the log on every message of the dedicated listener: procedure, serial (unchanged by
 * a dedicated listener), type, status and every value of the args, ret, error or event body.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { SCHEMA_PROGRAMS } from "../../src/audit/schema.ts";
import type { DecodedMessage } from "../../src/audit/decoder.ts";
import {
  dissectorMisreads,
  HAVE_TSHARK,
  HEADER,
  type Leaves,
  normal,
  ourLeaves,
  tsharkLeaves,
} from "../audit/_tshark.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, runCommand, spawnProcess, waitFor } from "./helpers/process.ts";
import { PYTHON_EVENT_PRELUDE, runPython } from "./helpers/python.ts";
import { tempDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { MAIN_TS, runVirtmux, startVirtmux } from "./helpers/virtmux.ts";

type AuditRecord = Record<string, unknown> & {
  kind: string;
  procedure?: string;
  identity?: Record<string, unknown>;
};

/** Python over the shared listener: events, suspend/resume, a screenshot stream, a destroy. */
const SHARED_SCRIPT = PYTHON_EVENT_PRELUDE + `
c = libvirt.open(sys.argv[1])
events = []
def on_lifecycle(conn, dom, event, detail, opaque):
    events.append((dom.name(), event))
cid = c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
d = c.lookupByName("test")
d.suspend()
d.resume()
st = c.newStream(0)
mime = d.screenshot(st, 0, 0)
data = b""
while True:
    chunk = st.recv(262144)
    if not chunk:
        break
    data += chunk
st.finish()
d.destroy()
deadline = time.time() + 10
while len(events) < 3 and time.time() < deadline:
    time.sleep(0.02)
c.domainEventDeregisterAny(cid)
c.close()
print(json.dumps({"events": len(events), "screenshot": len(data), "mime": mime}))
`;

/** Python over the dedicated listener: a lookup, the domain XML, an event registration. */
const DEDICATED_SCRIPT = PYTHON_EVENT_PRELUDE + `
c = libvirt.open(sys.argv[1])
got = []
cid = c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    lambda conn, dom, event, detail, opaque: got.append(event), None)
d = c.lookupByName("test")
d.suspend()
d.resume()
xml = d.XMLDesc(0)
deadline = time.time() + 10
while len(got) < 2 and time.time() < deadline:
    time.sleep(0.02)
c.domainEventDeregisterAny(cid)
print(json.dumps({"version": c.getLibVersion(), "xml": len(xml), "events": len(got)}))
c.close()
`;

/** A message reduced to what both decoders say: header by name, then the sorted body leaves. */
function key(
  procedure: string,
  type: string,
  serial: number,
  status: string,
  leaves: Leaves,
): string {
  return `${procedure} ${type} #${serial} ${status} ${normal(leaves).join(" ")}`;
}

function programNumber(name: string): number {
  return [...SCHEMA_PROGRAMS.values()].find((p) => p.name === name)!.number;
}

/** The messages of the dedicated listener as the audit log tells them. */
function fromLog(records: AuditRecord[], listener: string): string[] {
  const out: string[] = [];
  for (const record of records) {
    if (record.listener !== listener || typeof record.procedure !== "string") continue;
    if (record.program === "KEEPALIVE" || record.by === "virtmux") continue;
    const program = programNumber(record.program as string);
    const serial = record.serial as number;
    const side = (message: Partial<DecodedMessage>, type: string, status: string) => {
      const full = { procedure: record.procedure, ...message } as DecodedMessage;
      const bodyType = bodyTypeOf(full, program);
      const leaves = bodyType && dissectorMisreads(bodyType) ? [] : ourLeaves(full, program);
      out.push(key(record.procedure!, type, serial, status, leaves));
    };
    if (record.kind === "call") {
      side("args" in record ? { args: record.args } : {}, "CALL", "OK");
      if (record.status === "error") side({ error: record.error }, "REPLY", "ERROR");
      else side("ret" in record ? { ret: record.ret } : {}, "REPLY", "OK");
    } else if (record.kind === "event") {
      side({ msg: record.msg }, "MESSAGE", "OK");
    }
  }
  return out.sort();
}

function bodyTypeOf(message: DecodedMessage, program: number): string | null | undefined {
  const schema = SCHEMA_PROGRAMS.get(program)!;
  const procedure = Object.values(schema.procedures).find((p) => p[0] === message.procedure);
  if ("args" in message) return procedure?.[1];
  if ("ret" in message) return procedure?.[2];
  if ("msg" in message) return procedure?.[3];
  if ("error" in message) return schema.error;
}

const TYPES = ["CALL", "REPLY", "MESSAGE", "STREAM", "CALL_WITH_FDS", "REPLY_WITH_FDS", "HOLE"];
const STATUSES = ["OK", "ERROR", "CONTINUE"];

/** The same messages as the dissector tells them, from a capture of the tcp upstream. */
async function fromTshark(pcap: string, port: number, home: string): Promise<string[]> {
  const output = await new Deno.Command("tshark", {
    args: [
      "-r",
      pcap,
      "-d",
      `tcp.port==${port},libvirt`,
      "-T",
      "json",
      "--no-duplicate-keys",
      "-Y",
      "libvirt",
    ],
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C", HOME: home },
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const packets = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    _source: { layers: { libvirt: unknown } };
  }[];
  const out: string[] = [];
  for (const packet of packets) {
    const layer = packet._source.layers.libvirt;
    for (const pdu of (Array.isArray(layer) ? layer : [layer]) as Record<string, unknown>[]) {
      const program = SCHEMA_PROGRAMS.get(Number(pdu["libvirt.program"]));
      if (program === undefined || program.name === "KEEPALIVE") continue;
      const type = TYPES[Number(pdu["libvirt.type"])];
      if (type === "STREAM" || type === "HOLE") continue;
      const procedure = program.procedures[Number(pdu["libvirt.procedure"])];
      const status = STATUSES[Number(pdu["libvirt.status"])];
      const bodyType = type === "CALL"
        ? procedure[1]
        : type === "MESSAGE"
        ? procedure[3]
        : status === "ERROR"
        ? program.error
        : procedure[2];
      const leaves: Leaves = [];
      if (!(bodyType && dissectorMisreads(bodyType))) {
        const body = Object.fromEntries(
          Object.entries(pdu).filter(([k]) => !HEADER.includes(k.slice("libvirt.".length))),
        );
        tsharkLeaves(body, "", leaves);
      }
      out.push(key(procedure[0], type, Number(pdu["libvirt.serial"]), status, leaves));
    }
  }
  return out.sort();
}

Deno.test({
  name: "audit: virsh and python through dedicated and shared listeners, verified and " +
    "cross-checked with tshark",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir("audit-int");
    const daemon = await startLibvirtd();
    const key = join(dir.path, "audit.key");
    const state = join(dir.path, "audit.state");
    const logPath = join(dir.path, "log", "audit.jsonl");
    const dedicated = join(dir.path, "ded.sock");
    const shared = join(dir.path, "shared.sock");
    const pcap = join(dir.path, "upstream.pcap");
    const tsharkLog = join(dir.path, "tshark.log");
    let tshark: ReturnType<typeof spawnProcess> | undefined;
    try {
      const init = await runVirtmux(["audit", "init-key", "--out", key, "--state", state]);
      assert.equal(init.code, 0, init.stderr);
      if (HAVE_TSHARK) {
        await Deno.writeTextFile(tsharkLog, "");
        tshark = spawnProcess("tshark", {
          args: ["-i", "lo", "-f", `tcp port ${daemon.tcpPort}`, "-w", pcap],
          logFile: tsharkLog,
          env: { HOME: dir.path },
        });
        await waitFor(
          "tshark to capture",
          async () => (await Deno.readTextFile(tsharkLog)).includes("Capturing on"),
          { process: tshark },
        );
      }
      const virtmux = await startVirtmux(`
[[upstream]]
name = "tcp"
uri = "${daemon.uris.tcp}"
# Frames pass unchanged, so the capture holds the clients' messages only (with the default on
# plain tcp, "proxy", virtmux would ask AUTH_LIST itself first: a message no client sent).
sasl = "passthrough"

[[upstream]]
name = "pool"
uri = "${daemon.uris.unix}"
share = true

[[listen]]
socket = "${dedicated}"
mode = "0666"
upstream = "tcp"

[[listen]]
socket = "${shared}"
mode = "0666"
upstream = "pool"
deny_procedures = ["DOMAIN_UNDEFINE", "DOMAIN_UNDEFINE_FLAGS"]

[audit]
enabled = true
path = "${logPath}"
key_state = "${state}"
seal_interval = 0.5

[[audit.rule]]
listener = "${dedicated}"
level = "request_response"
`);
      const viaDedicated = `test+unix:///default?socket=${dedicated}`;
      const viaShared = `test+unix:///default?socket=${shared}`;
      try {
        const list = await virsh(viaDedicated, ["list", "--all"]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /\btest\b/);
        const info = await virsh(viaDedicated, ["dominfo", "test"]);
        assert.equal(info.code, 0, info.stderr);
        const python = await runPython(DEDICATED_SCRIPT, [viaDedicated]);
        assert.equal(python.code, 0, python.stderr);
        assert.equal(JSON.parse(python.stdout).events, 2, python.stdout);

        const events = await runPython(SHARED_SCRIPT, [viaShared]);
        assert.equal(events.code, 0, events.stderr);
        const outcome = JSON.parse(events.stdout);
        assert.ok(outcome.events >= 3, events.stdout);
        assert.ok(outcome.screenshot > 1000, events.stdout);
        const undefine = await virsh(viaShared, ["undefine", "test"]);
        assert.notEqual(undefine.code, 0);
        assert.match(undefine.stderr, /denied by the policy/);
      } finally {
        const stopped = await virtmux.stop();
        assert.equal(stopped.code, 0, await virtmux.logText());
      }
      const records = (await Deno.readTextFile(logPath)).trim().split("\n")
        .map((line) => JSON.parse(line) as AuditRecord);
      const kinds = (kind: string) => records.filter((r) => r.kind === kind);
      const calls = (procedure: string) =>
        records.filter((r) => r.kind === "call" && r.procedure === procedure);

      // Who: every client record names root and a pid, from SO_PEERCRED.
      assert.ok(kinds("connect").length >= 5, JSON.stringify(kinds("connect")));
      for (const record of [...kinds("connect"), ...kinds("call")]) {
        assert.equal(record.identity?.uid, 0, JSON.stringify(record));
        assert.equal(record.identity?.user, "root");
        assert.equal(typeof record.identity?.pid, "number");
      }
      assert.equal(kinds("disconnect").length, kinds("connect").length);
      assert.ok(kinds("disconnect").every((r) => typeof r.reason === "string" && r.reason !== ""));

      // What: decoded args with the domain's name; the destroy in full.
      const lookup = calls("DOMAIN_LOOKUP_BY_NAME").find((r) => r.listener === dedicated)!;
      assert.deepEqual(lookup.args, { name: "test" });
      assert.equal((lookup.object as { name: string }).name, "test");
      assert.equal(lookup.level, "request_response");
      const destroy = calls("DOMAIN_DESTROY")[0];
      assert.equal(destroy.level, "request_response");
      assert.equal(destroy.listener, shared);
      assert.equal(destroy.status, "ok");
      assert.equal((destroy.args as { dom: { name: string } }).dom.name, "test");
      assert.equal(typeof destroy.latency_ms, "number");
      const sharedLookup = calls("DOMAIN_LOOKUP_BY_NAME").find((r) => r.listener === shared)!;
      assert.equal(sharedLookup.level, "metadata");
      assert.equal(sharedLookup.args, undefined);
      assert.equal((sharedLookup.object as { name: string }).name, "test");

      // The denial, made by virtmux, never seen by the daemon.
      const denied = records.find((r) =>
        r.kind === "call" && String(r.procedure).startsWith("DOMAIN_UNDEFINE")
      )!;
      assert.equal(denied.status, "error");
      assert.equal(denied.by, "virtmux");
      assert.equal((denied.error as { code: number }).code, 29);

      // Events and the stream.
      const lifecycle = kinds("event").filter((r) =>
        r.procedure === "DOMAIN_EVENT_CALLBACK_LIFECYCLE"
      );
      assert.ok(lifecycle.length >= 5, JSON.stringify(kinds("event")));
      assert.ok(lifecycle.every((r) => (r.object as { name: string }).name === "test"));
      const stream = kinds("stream").find((r) => r.procedure === "DOMAIN_SCREENSHOT")!;
      assert.equal(stream.status, "finished");
      const summary = stream.stream as { from_daemon: { bytes: number; eof: boolean } };
      assert.ok(summary.from_daemon.bytes > 1000 && summary.from_daemon.eof);

      // The chain verifies with the key, and reads back as lines.
      const verify = await runVirtmux(["audit", "verify", "--key", key, logPath]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /^(\d+)\/\1 records valid, (\d+)\/\2 seals valid/m);
      const show = await runVirtmux(["audit", "show", logPath]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(
        show.stdout,
        /root@\d+ \(client \d+\) {2}\S+shared\.sock -> pool {2}DOMAIN_DESTROY\(test\) = ok {2}[\d.]+ ms/,
      );
      assert.match(show.stdout, /DOMAIN_UNDEFINE\w*\(test\) = error 29: Procedure DOMAIN_UNDEFINE/);
      assert.match(show.stdout, /stream DOMAIN_SCREENSHOT\(test\) = finished/);

      // The dissector agrees on every message of the tcp upstream.
      if (tshark !== undefined) {
        await tshark.kill({ signal: "SIGINT", graceMs: 5000 });
        tshark = undefined;
        const theirs = await fromTshark(pcap, daemon.tcpPort, dir.path);
        const ours = fromLog(records, dedicated);
        assert.ok(ours.length > 60, `${ours.length} messages`);
        assert.ok(
          ours.some((line) =>
            line.startsWith("DOMAIN_LOOKUP_BY_NAME CALL") && line.endsWith("name=test")
          ),
        );
        assert.deepEqual(ours, theirs);
      } else if (Deno.env.get("CI") === "true") {
        assert.fail("tshark and libvirt-wireshark are needed for the cross-check");
      }
    } finally {
      await tshark?.kill({ signal: "SIGINT", graceMs: 2000 });
      await daemon.stop();
    }
    assertNoLeftoverProcesses();
  },
});

/** Deno's cache directory: libvirt's reduced environment (and virsh's private HOME) hide it. */
async function denoDir(): Promise<string> {
  const result = await runCommand(Deno.execPath(), ["info", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout).denoDir;
}

Deno.test({
  name: "audit: stdio processes run by libvirt's ext transport share one verified log",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir("audit-stdio");
    const daemon = await startLibvirtd();
    try {
      const logPath = join(dir.path, "audit.jsonl");
      const config = join(dir.path, "virtmux.toml");
      await Deno.writeTextFile(
        config,
        `[[upstream]]\nname = "hv"\nuri = "${daemon.uris.unix}"\n\n` +
          `[audit]\nenabled = true\npath = "${logPath}"\n`,
      );
      const env: Record<string, string> = {
        DENO_DIR: await denoDir(),
        NO_COLOR: "1",
        RUST_BACKTRACE: "0",
        VIRTMUX_CONFIG: config,
        SSH_CONNECTION: "192.0.2.7 50022 192.0.2.1 22",
      };
      const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
      const wrapper = join(dir.path, "virtmux-ext");
      await Deno.writeTextFile(
        wrapper,
        [
          "#!/bin/sh",
          ...Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`),
          `exec ${quote(Deno.execPath())} run -A ${quote(MAIN_TS)}`,
          "",
        ].join("\n"),
      );
      await Deno.chmod(wrapper, 0o755);
      const uri = `test+ext:///default?command=${wrapper}`;
      const runs = await Promise.all([
        virsh(uri, ["dominfo", "test"]),
        virsh(uri, ["list", "--all"]),
        virsh(uri, ["domstate", "test"]),
      ]);
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      const records = (await Deno.readTextFile(logPath)).trim().split("\n")
        .map((line) => JSON.parse(line) as AuditRecord);
      assert.equal(records.filter((r) => r.kind === "connect").length, 3);
      assert.equal(records.filter((r) => r.kind === "disconnect").length, 3);
      for (const record of records) {
        assert.equal(record.listener, "stdio");
        assert.equal(record.identity?.uid, 0);
        assert.equal(record.identity?.ssh_connection, "192.0.2.7 50022 192.0.2.1 22");
        assert.equal(typeof record.identity?.pid, "number");
      }
      const lookup = records.find((r) => r.procedure === "DOMAIN_LOOKUP_BY_NAME")!;
      assert.equal((lookup.object as { name: string }).name, "test");
      const verify = await runVirtmux(["audit", "verify", logPath]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, new RegExp(`^${records.length}/${records.length} records valid`));
      const show = await runVirtmux(["audit", "show", logPath]);
      assert.match(
        show.stdout,
        /root@\d+ \[ssh 192\.0\.2\.7\] \(client stdio-\d+\) {2}stdio -> hv/,
      );
    } finally {
      await daemon.stop();
    }
    assertNoLeftoverProcesses();
  },
});
