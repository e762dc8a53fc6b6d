/**
 * virtmux as the `netcat=` command libvirt's ssh transport runs on the remote host (`virtmux nc`,
 * or a symlink named `nc`), for bastions without nc: `nc [-q SECONDS] -U SOCKET` relays
 * stdin/stdout to a unix socket, byte for byte.
 *
 * libvirt's remote command first probes `nc -q 2>&1 | grep "requires an argument"` to learn
 * whether `-q` takes a value (OpenBSD netcat) and then runs `nc -q0 -U SOCKET`; so `-q` alone
 * answers with OpenBSD netcat's "option requires an argument" message.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";

/** Help of the nc role. */
export const NC_USAGE = `Usage: nc [-N] [-q SECONDS] -U SOCKET

virtmux run as the netcat libvirt's ssh transport uses (a symlink named nc, or "virtmux nc"):
relays stdin and stdout to the unix socket SOCKET until the socket closes. When stdin ends, the
socket's write side is shut down (-N is accepted: that is always done); -q SECONDS (not 0) also
quits that long after stdin ends.`;

/** What the command line asked for. */
export interface NcArgs {
  /** The unix socket to connect to. */
  socket: string;
  /** Seconds to wait after stdin ends, or undefined to wait for the socket to end. */
  quitAfterSeconds?: number;
}

/** Outcome of parsing: arguments to run with, or a message and exit status to end with. */
export type NcParse = { args: NcArgs } | { exit: number; stdout?: string; stderr?: string };

/**
 * Parses nc's arguments as OpenBSD netcat would for the options libvirt uses.
 *
 * @param argv the arguments after the role name
 */
export function parseNcArgs(argv: string[]): NcParse {
  let socket: string | undefined;
  let quit: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") return { exit: 0, stdout: NC_USAGE };
    if (arg === "-N") continue;
    if (arg.startsWith("-q")) {
      const value = arg.length > 2 ? arg.slice(2) : argv[++i];
      if (value === undefined) {
        return { exit: 2, stderr: `nc: option requires an argument -- 'q'\n${NC_USAGE}` };
      }
      if (!/^\d+$/.test(value)) {
        return { exit: 2, stderr: `nc: quit timer "${value}" is not a number\n${NC_USAGE}` };
      }
      quit = Number(value);
      continue;
    }
    if (arg.startsWith("-U")) {
      socket = arg.length > 2 ? arg.slice(2) : argv[++i];
      if (socket === undefined) {
        return { exit: 2, stderr: `nc: option requires an argument -- 'U'\n${NC_USAGE}` };
      }
      continue;
    }
    return { exit: 2, stderr: `nc: unsupported argument "${arg}"\n${NC_USAGE}` };
  }
  if (socket === undefined) {
    return { exit: 2, stderr: `nc: only unix sockets are supported: give -U SOCKET\n${NC_USAGE}` };
  }
  return { args: { socket, quitAfterSeconds: quit } };
}

async function writeAllTo(
  target: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < data.length) written += await target.write(data.subarray(written));
}

/** Relays stdin/stdout to `args.socket`; resolves to the exit status. */
export async function nc(args: NcArgs): Promise<number> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: args.socket });
  } catch (error) {
    console.error(`nc: cannot connect to unix socket "${args.socket}": ${errorMessage(error)}`);
    return 1;
  }
  let quitTimer: ReturnType<typeof setTimeout> | undefined;
  const stdinDone = (async () => {
    const buffer = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await Deno.stdin.read(buffer);
        if (n === null) break;
        await writeAllTo(conn, buffer.subarray(0, n));
      }
      await conn.closeWrite();
    } catch { /* the socket is gone: the other direction ends too */ }
    if (args.quitAfterSeconds !== undefined && args.quitAfterSeconds > 0) {
      const timer = setTimeout(() => Deno.exit(0), args.quitAfterSeconds * 1000);
      Deno.unrefTimer(timer);
      quitTimer = timer;
    }
  })();
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      await writeAllTo(Deno.stdout, buffer.subarray(0, n));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) {
      console.error(`nc: relay of "${args.socket}" failed: ${errorMessage(error)}`);
    }
  }
  void stdinDone;
  if (quitTimer !== undefined) clearTimeout(quitTimer);
  try {
    conn.close();
  } catch { /* closed */ }
  return 0;
}

/** Runs the nc role with `argv`, printing usage errors; resolves to the exit status. */
export async function runNc(
  argv: string[],
  print: (line: string) => void,
  error: (line: string) => void,
): Promise<number> {
  const parsed = parseNcArgs(argv);
  if ("exit" in parsed) {
    if (parsed.stdout !== undefined) print(parsed.stdout);
    if (parsed.stderr !== undefined) error(parsed.stderr);
    return parsed.exit;
  }
  return await nc(parsed.args);
}
