import assert from "node:assert/strict";
import { type Channel, DialError, withDiagnostics, writeAll } from "../../src/transport/channel.ts";

/** A channel that takes at most `chunk` bytes per write and records them. */
function recorder(chunk: number): Channel & { written: number[][]; diag?: string } {
  const written: number[][] = [];
  return {
    written,
    read: () => Promise.resolve(null),
    write(data) {
      const part = data.subarray(0, chunk);
      written.push([...part]);
      return Promise.resolve(part.length);
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

Deno.test("writeAll writes everything through short writes, in order", async () => {
  const channel = recorder(3);
  await writeAll(channel, new Uint8Array([1, 2, 3, 4, 5, 6, 7]));
  assert.deepEqual(channel.written, [[1, 2, 3], [4, 5, 6], [7]]);
});

Deno.test("withDiagnostics appends what the channel has to say, trimmed, if anything", () => {
  const plain = recorder(1);
  assert.equal(withDiagnostics("Upstream closed", plain), "Upstream closed");
  assert.equal(withDiagnostics("Upstream closed", undefined), "Upstream closed");
  const talky = { ...plain, diagnostics: () => "  Permission denied (publickey).\n" };
  assert.equal(
    withDiagnostics("Upstream closed", talky),
    "Upstream closed: Permission denied (publickey).",
  );
  assert.equal(
    withDiagnostics("Upstream closed", { ...plain, diagnostics: () => " " }),
    "Upstream closed",
  );
});

Deno.test("DialError is an Error named DialError that keeps its cause", () => {
  const cause = new Error("refused");
  const error = new DialError(`Cannot connect to upstream "hv1"`, { cause });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "DialError");
  assert.equal(error.cause, cause);
});
