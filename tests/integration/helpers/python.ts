/**
 * Running python-libvirt scripts. The Debian python3-libvirt module imports only under the system
 * interpreter, /usr/bin/python3 (not a pyenv or venv python found first in PATH).
 *
 * @module
 */

import { runCommand, type RunResult } from "./process.ts";

/** The interpreter python3-libvirt is installed for. */
export const PYTHON = "/usr/bin/python3";

/** Options for {@linkcode runPython}. */
export interface PythonOptions {
  /**
   * Kill the interpreter after this long.
   *
   * @default {30000}
   */
  timeoutMs?: number;
  /** Extra environment variables (LC_ALL=C is always set). */
  env?: Record<string, string>;
  /** Text written to the script's stdin. */
  stdin?: string;
}

/** What a python run produced. */
export type PythonResult = RunResult;

/**
 * Runs `/usr/bin/python3 -c script ...args`; the script sees `args` as `sys.argv[1:]`.
 *
 * @param script Python source
 * @param args arguments after the script
 * @param options timeout, environment and stdin
 * @returns exit code, stdout, stderr and whether it timed out
 */
export function runPython(
  script: string,
  args: string[] = [],
  options: PythonOptions = {},
): Promise<PythonResult> {
  return runCommand(PYTHON, ["-c", script, ...args], {
    env: { LC_ALL: "C", PYTHONDONTWRITEBYTECODE: "1", ...options.env },
    stdin: options.stdin,
    timeoutMs: options.timeoutMs ?? 30000,
  });
}

/**
 * Python prelude for scripts with event callbacks: quiet errors, the default event loop in a
 * thread, `wait_for(path)` and `touch(path)` to step in time with the test.
 */
export const PYTHON_EVENT_PRELUDE = `
import json, os, sys, threading, time, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
libvirt.virEventRegisterDefaultImpl()
def _loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=_loop, daemon=True).start()
def wait_for(path, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise SystemExit("timed out waiting for " + path)
        time.sleep(0.02)
def touch(path):
    open(path, "w").close()
`;
