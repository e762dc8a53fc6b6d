/**
 * The test runner behind `deno task test`: checks that the system tools the integration tests
 * drive are installed (installing them with apt-get when running as root), runs `deno test` with
 * its output streamed live, and ends with one `N passed, N failed` line that CI looks for.
 *
 * Usage: `deno task test [deno test flags] [paths]`; with no paths, `tests/` is run.
 *
 * @module
 */

/** The Debian packages that provide every tool the tests need. */
export const APT_PACKAGES = [
  "libvirt-daemon",
  "libvirt-clients",
  "python3-libvirt",
  "openssh-server",
  "openssh-client",
  "socat",
  "openssl",
  "netcat-openbsd",
  "libsasl2-modules",
  "sasl2-bin",
  "libsasl2-modules-gssapi-mit",
  "krb5-kdc",
  "krb5-admin-server",
  "krb5-user",
  "tshark",
  "libvirt-wireshark",
  "systemd",
];

/**
 * The command that installs {@linkcode APT_PACKAGES}. Without their Recommends: those are qemu,
 * mesa, gstreamer, fonts and the like (about 390 packages instead of about 50 on a minimal
 * Debian 12), none of which the test driver, virsh, virt-admin, python3-libvirt, sshd or socat
 * use.
 */
export const APT_INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y " +
  "--no-install-recommends " + APT_PACKAGES.join(" ");

/** A tool the tests need, and how to tell whether it is there. */
export interface Requirement {
  /** What to call it in messages. */
  name: string;
  /** A command that exits 0 when the requirement is met. */
  probe: string[];
  /** Installed when root; otherwise its tests skip with a message instead of stopping the run. */
  optional?: boolean;
}

/** Everything the integration tests run. */
export const REQUIREMENTS: Requirement[] = [
  { name: "virsh", probe: ["virsh", "--version"] },
  { name: "libvirtd", probe: ["/usr/sbin/libvirtd", "--version"] },
  { name: "virt-admin", probe: ["virt-admin", "--version"] },
  { name: "python3-libvirt", probe: ["/usr/bin/python3", "-c", "import libvirt"] },
  { name: "socat", probe: ["socat", "-V"] },
  { name: "openssl", probe: ["openssl", "version"] },
  { name: "sshd", probe: ["/usr/sbin/sshd", "-V"] },
  { name: "ssh", probe: ["ssh", "-V"] },
  { name: "ssh-keygen", probe: ["sh", "-c", "command -v ssh-keygen"] },
  { name: "nc", probe: ["sh", "-c", "command -v nc"] },
  { name: "saslpasswd2", probe: ["sh", "-c", "command -v saslpasswd2"] },
  {
    name: "libsasl2-modules",
    probe: ["sh", "-c", "ls /usr/lib/*/sasl2/libscram.so /usr/lib/*/sasl2/libdigestmd5.so"],
  },
  {
    name: "libsasl2-modules-gssapi-mit",
    probe: ["sh", "-c", "ls /usr/lib/*/sasl2/libgssapiv2.so"],
  },
  { name: "krb5kdc", probe: ["sh", "-c", "command -v krb5kdc kdb5_util kadmin.local kinit"] },
  { name: "tshark", probe: ["tshark", "-v"] },
  {
    name: "libvirt-wireshark",
    probe: ["sh", "-c", "ls /usr/lib/*/wireshark/plugins/*/epan/libvirt.so"],
  },
  { name: "systemd-analyze", probe: ["systemd-analyze", "--version"], optional: true },
];

/** Test counts from deno test's summary line. */
export interface TestSummary {
  /** Tests that passed (steps not counted). */
  passed: number;
  /** Tests that failed (steps not counted). */
  failed: number;
}

/**
 * Reads the counts from deno test's closing line, e.g.
 * `ok | 42 passed (3 steps) | 0 failed (2s)` or `FAILED | 40 passed | 2 failed (1 step) (5s)`.
 * When several summaries appear, the last wins.
 *
 * @param output deno test's stdout (colour codes are ignored)
 * @returns the counts, or undefined when there is no summary line
 */
export function parseSummary(output: string): TestSummary | undefined {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const matches = [...plain.matchAll(/^(?:ok|FAILED) \| (\d+) passed\b.*?\| (\d+) failed\b/gm)];
  const last = matches.at(-1);
  if (!last) return undefined;
  return { passed: Number(last[1]), failed: Number(last[2]) };
}

/**
 * The `deno test` arguments for the runner's own arguments: `tests/` is added unless an argument
 * names an existing file or directory.
 *
 * @param args the runner's arguments (flags and paths for deno test)
 */
export function testArgs(args: string[]): string[] {
  const namesPath = args.some((arg) => !arg.startsWith("-") && exists(arg));
  return ["test", "-A", "--no-check=remote", ...args, ...(namesPath ? [] : ["tests/"])];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function probe(command: string[]): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/** Names of the requirements that are not met. */
export async function missingRequirements(): Promise<string[]> {
  const missing: string[] = [];
  for (const requirement of REQUIREMENTS) {
    if (!(await probe(requirement.probe))) missing.push(requirement.name);
  }
  return missing;
}

async function preflight(): Promise<boolean> {
  let missing = await missingRequirements();
  if (missing.length === 0) return true;
  const optional = new Set(REQUIREMENTS.filter((r) => r.optional).map((r) => r.name));
  if (Deno.uid() !== 0 && missing.every((name) => optional.has(name))) {
    console.error(`Missing ${missing.join(", ")}: the tests that need it are skipped`);
    return true;
  }
  if (Deno.uid() !== 0) {
    console.error(`Cannot run the integration tests: missing ${missing.join(", ")}`);
    console.error(`Install them as root with:\n  ${APT_INSTALL}`);
    return false;
  }
  console.error(`Installing missing test tools (${missing.join(", ")}):\n  ${APT_INSTALL}`);
  const { code } = await new Deno.Command("sh", {
    args: ["-c", APT_INSTALL],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  missing = await missingRequirements();
  if (code !== 0 || missing.length > 0) {
    console.error(
      `Cannot install the test tools (apt-get exit ${code}): missing ${missing.join(", ")}`,
    );
    return false;
  }
  return true;
}

/** Keeps the last `limit` characters of what it is given. */
class Tail {
  #text = "";
  #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(text: string): void {
    this.#text = (this.#text + text).slice(-this.#limit);
  }

  get text(): string {
    return this.#text;
  }
}

async function runDenoTest(args: string[]): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: testArgs(args),
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const tail = new Tail(64 * 1024);
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail.push(decoder.decode(chunk, { stream: true }));
  }
  const { code, signal } = await child.status;
  for (const line of closingLines(parseSummary(tail.text), code, signal)) console.log(line);
  return code;
}

/**
 * What the runner prints last, from deno test's summary (if any) and how it exited: the counts,
 * and a failure more when deno test died or exited non-zero after a summary with none (a crash at
 * exit must not pass as "0 failed").
 */
export function closingLines(
  summary: TestSummary | undefined,
  code: number,
  signal: Deno.Signal | null,
): string[] {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  if (!summary) {
    // No summary means deno test stopped before running tests (a type or module error).
    return [
      `deno test printed no summary (exit ${code})`,
      code === 0 ? "0 passed, 0 failed" : "0 passed, 1 failed",
    ];
  }
  if (code !== 0 && summary.failed === 0) {
    return [
      `deno test ${how} after its summary said every test passed`,
      `${summary.passed} passed, 1 failed`,
    ];
  }
  return [`${summary.passed} passed, ${summary.failed} failed`];
}

/** The runner's own help. */
export const USAGE = `Usage: deno task test [deno test flags] [paths]

Checks (as root: installs) the system tools the integration tests need, runs deno test on the
paths (default: tests/), and ends with one "N passed, N failed" line. Any deno test flag works,
e.g. --filter NAME, --fail-fast; see "deno test --help".`;

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  Deno.env.set("RUST_BACKTRACE", "0");
  Deno.env.set("NO_COLOR", "1");
  if (!(await preflight())) Deno.exit(1);
  Deno.exit(await runDenoTest(Deno.args));
}
