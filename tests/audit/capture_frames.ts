/**
 * `deno run -A tests/audit/capture_frames.ts [OUT]`: records the frames a spread of real clients
 * exchange with a real private libvirtd (test driver) and writes them in the format of
 * tests/audit/_fixture.ts, by default to tests/audit/fixtures/libvirtd.frames.
 *
 * A recording relay (unix socket → libvirtd's socket, one for the read-write socket and one for
 * the admin socket) sits between the clients and the daemon and copies bytes unchanged. Traffic:
 * `virsh event --all --loop` listening while other virsh runs open, list, look up, dump and define
 * XML, start, suspend, resume, destroy and undefine a domain (lifecycle events), fail a lookup (an
 * error reply), take a screenshot (a stream), read typed parameters (domstats, schedinfo), call the
 * QEMU and LXC programs (error replies from the test driver), and virt-admin reads the admin
 * program and fails one lookup.
 *
 * @module
 */

import { join } from "node:path";
import { startLibvirtd } from "../integration/helpers/libvirtd.ts";
import { runCommand, spawnProcess } from "../integration/helpers/process.ts";
import { makeTempDir, removeDir } from "../integration/helpers/tmp.ts";
import { virsh } from "../integration/helpers/virsh.ts";
import { type CapturedFrame, encodeCapture, LIBVIRTD_CAPTURE } from "./_fixture.ts";

/** A unix-socket relay that records every frame it carries. */
class RecordingRelay {
  readonly frames: CapturedFrame[];
  #listener: Deno.UnixListener;
  #upstream: string;
  #connections: { next: number };
  #pumps: Promise<void>[] = [];

  constructor(
    path: string,
    upstream: string,
    frames: CapturedFrame[],
    connections: { next: number },
  ) {
    this.#listener = Deno.listen({ transport: "unix", path });
    this.#upstream = upstream;
    this.frames = frames;
    this.#connections = connections;
    this.#pumps.push(this.#accept());
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      const id = this.#connections.next++;
      const daemon = await Deno.connect({ transport: "unix", path: this.#upstream });
      this.#pumps.push(
        this.#pump(client, daemon, "up", id),
        this.#pump(daemon, client, "down", id),
      );
    }
  }

  async #pump(from: Deno.Conn, to: Deno.Conn, direction: "up" | "down", connection: number) {
    let pending = new Uint8Array(0);
    const buffer = new Uint8Array(1 << 20);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        const chunk = buffer.slice(0, n);
        await writeAll(to, chunk);
        const joined = new Uint8Array(pending.length + n);
        joined.set(pending);
        joined.set(chunk, pending.length);
        let pos = 0;
        while (joined.length - pos >= 4) {
          const length = new DataView(joined.buffer, pos).getUint32(0);
          if (joined.length - pos < length) break;
          this.frames.push({ direction, connection, frame: joined.slice(pos, pos + length) });
          pos += length;
        }
        pending = joined.slice(pos);
      }
    } catch {
      // The other side closed first.
    } finally {
      try {
        to.closeWrite();
      } catch {
        // Already closed.
      }
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    await Promise.allSettled(this.#pumps);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

const DOMAIN_XML = `<domain type='test'>
  <name>audit-vm</name>
  <uuid>0b8b3f5e-6f2a-4c8e-9d43-5a1b2c3d4e5f</uuid>
  <memory>65536</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
</domain>
`;

/**
 * Runs the clients through recording relays in front of a fresh private libvirtd.
 *
 * @returns the frames in the order they crossed the relays
 */
export async function captureFrames(): Promise<CapturedFrame[]> {
  const daemon = await startLibvirtd();
  const dir = await makeTempDir("capture");
  const frames: CapturedFrame[] = [];
  const connections = { next: 1 };
  const relay = new RecordingRelay(join(dir, "rw.sock"), daemon.unixSocket, frames, connections);
  const adminRelay = new RecordingRelay(
    join(dir, "admin.sock"),
    daemon.adminSocket,
    frames,
    connections,
  );
  const uri = `test+unix:///default?socket=${join(dir, "rw.sock")}`;
  const run = async (...args: string[]) => {
    const result = await virsh(uri, args);
    console.log(`virsh ${args.join(" ")}: exit ${result.code}`);
  };
  try {
    await Deno.writeTextFile(join(dir, "domain.xml"), DOMAIN_XML);
    const events = spawnProcess("virsh", {
      args: ["-c", uri, "event", "--all", "--loop", "--timeout", "9"],
      env: { LC_ALL: "C", HOME: dir },
      logFile: join(dir, "events.log"),
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await run("list", "--all");
    await run("dominfo", "test");
    await run("dumpxml", "test");
    await run("dominfo", "nosuch");
    await run("define", join(dir, "domain.xml"));
    await run("start", "audit-vm");
    await run("suspend", "audit-vm");
    await run("resume", "audit-vm");
    await run("destroy", "audit-vm");
    await run("undefine", "audit-vm");
    await run("screenshot", "test", join(dir, "screen.ppm"));
    await run("domstats", "test");
    await run("schedinfo", "test");
    await run("vcpuinfo", "test");
    await run("nodeinfo");
    await run("capabilities");
    await run("net-list", "--all");
    await run("net-dumpxml", "default");
    await run("pool-list", "--all");
    await run("qemu-monitor-command", "test", '{"execute":"query-status"}');
    await run("lxc-enter-namespace", "test", "--noseclabel", "/bin/true");
    for (
      const command of [
        ["srv-list"],
        ["srv-threadpool-info", "libvirtd"],
        ["srv-clients-list", "libvirtd"],
        ["srv-clients-info", "nosuch"],
      ]
    ) {
      const result = await runCommand("virt-admin", [
        "-c",
        `libvirtd:///system?socket=${join(dir, "admin.sock")}`,
        ...command,
      ], { env: { LC_ALL: "C", HOME: dir } });
      console.log(`virt-admin ${command.join(" ")}: exit ${result.code}`);
    }
    await events.status;
    console.log(await Deno.readTextFile(join(dir, "events.log")));
  } finally {
    await relay.close();
    await adminRelay.close();
    await daemon.stop();
    await removeDir(dir);
  }
  return frames;
}

if (import.meta.main) {
  const out = Deno.args[0] ?? LIBVIRTD_CAPTURE.pathname;
  const frames = await captureFrames();
  const bytes = encodeCapture(frames);
  await Deno.writeFile(out, bytes);
  console.log(`Wrote ${out}: ${frames.length} frames, ${bytes.length} bytes`);
}
