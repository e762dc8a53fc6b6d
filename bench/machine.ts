/**
 * Facts about the machine and the tools a bench run used, for the report.
 *
 * @module
 */

import { runCommand } from "../tests/integration/helpers/process.ts";
import { errorMessage } from "../src/log/error_message.ts";

/** The 1, 5 and 15 minute load averages, as /proc/loadavg prints them. */
export function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

async function firstLine(command: string, args: string[]): Promise<string> {
  try {
    const result = await runCommand(command, args, { timeoutMs: 10000 });
    return (result.stdout + result.stderr).trim().split("\n")[0] ?? "";
  } catch (error) {
    return `unavailable: ${errorMessage(error)}`;
  }
}

/** Cores, CPU model, memory, kernel, tool versions and the load average now. */
export async function machineFacts(): Promise<Record<string, string>> {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const memKib = Number(/^MemTotal:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1]);
  return {
    cores: `${navigator.hardwareConcurrency} (${model})`,
    memory: `${(memKib / 1048576).toFixed(1)} GiB`,
    kernel: await firstLine("uname", ["-srm"]),
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
    libvirtd: await firstLine("/usr/sbin/libvirtd", ["--version"]),
    haproxy: await firstLine("haproxy", ["-v"]),
    socat: await firstLine("sh", ["-c", "socat -V | grep 'socat version'"]),
    "load average at start": loadAverage(),
  };
}
