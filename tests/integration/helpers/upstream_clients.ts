/**
 * What the upstream transport tests (tls/tcp/unix and ssh/ext) share: a virtmux config with a
 * socket per upstream, and the python-libvirt clients they run through it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runPython } from "./python.ts";

/** One `[[upstream]]` with a `[[listen]]` socket of its own, named after it. */
export function virtmuxConfig(dir: string, upstreams: Record<string, string>): string {
  const sections = Object.entries(upstreams).map(([name, uri]) =>
    [
      `[[upstream]]`,
      `name = ${JSON.stringify(name)}`,
      `uri = ${JSON.stringify(uri)}`,
      `share = false`,
      ``,
      `[[listen]]`,
      `socket = ${JSON.stringify(join(dir, `${name}.sock`))}`,
      `upstream = ${JSON.stringify(name)}`,
      ``,
    ].join("\n")
  );
  return `[log]\nlevel = "info"\n\n${sections.join("\n")}`;
}

/** python-libvirt: open, getLibVersion(), listAllDomains(), close; or the error's text. */
export const PYTHON_OPEN = `
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *args: None, None)
try:
    conn = libvirt.open(sys.argv[1])
    try:
        result = {"version": conn.getLibVersion(),
                  "domains": sorted(dom.name() for dom in conn.listAllDomains())}
    finally:
        conn.close()
except libvirt.libvirtError as error:
    result = {"error": str(error)}
print(json.dumps(result))
`;

/** COUNT threads of one python process open, getLibVersion() and close at the same moment. */
export const PYTHON_BURST = `
import json, sys, threading, libvirt
libvirt.registerErrorHandler(lambda *args: None, None)
uri, count = sys.argv[1], int(sys.argv[2])
barrier = threading.Barrier(count)
lock = threading.Lock()
versions, errors = [], []
def client():
    try:
        barrier.wait()
        conn = libvirt.open(uri)
        try:
            version = conn.getLibVersion()
        finally:
            conn.close()
        with lock:
            versions.append(version)
    except Exception as error:
        with lock:
            errors.append(str(error))
threads = [threading.Thread(target=client) for _ in range(count)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"ok": len(versions), "versions": sorted(set(versions)), "errors": errors[:5]}))
`;

/** Clients in one burst. */
export const BURST = 100;

/** `text` as a regular expression that matches it literally. */
export function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** What PYTHON_OPEN printed. */
export interface PythonOpen {
  version?: number;
  domains?: string[];
  error?: string;
}

/** Runs PYTHON_OPEN against `uri`. */
export async function pythonOpen(uri: string): Promise<PythonOpen> {
  const result = await runPython(PYTHON_OPEN, [uri]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}
