/**
 * libsasl2 loaded by one isolate stays loaded after it (its own file: no isolate of this module
 * opens the library itself, so only the pin can keep it).
 */

import assert from "node:assert/strict";

/** The files of loaded shared libraries whose name contains `part`. */
function mappedLibraries(part: string): string[] {
  const lines = Deno.readTextFileSync("/proc/self/maps").split("\n");
  return [...new Set(lines.map((line) => line.split(/\s+/).pop() ?? ""))]
    .filter((file) => file.includes(part));
}

Deno.test("libsasl2 stays loaded, under the plugins it loaded, after the isolate that opened it ends", async () => {
  for (let round = 0; round < 2; round++) {
    const worker = new Worker(new URL("./sasl_session_worker.ts", import.meta.url), {
      type: "module",
    });
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (event) => reject(new Error(event.message));
      worker.postMessage("go");
    });
    worker.terminate();
    // Deno unloads what an isolate opened with Deno.dlopen once the isolate is gone.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(mappedLibraries("libsasl2.so").length, 1, `round ${round}`);
  }
});
