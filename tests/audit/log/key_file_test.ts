/** The initial key and key state files. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { keyId } from "../../../src/audit/log/chain.ts";
import {
  formatInitialKey,
  formatKeyState,
  newInitialKey,
  readInitialKey,
  readKeyState,
  writeKeyState,
  writeNewKeyFile,
} from "../../../src/audit/log/key_file.ts";

Deno.test("key files round-trip, mode 0600, and are never overwritten by init", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  try {
    const key = newInitialKey();
    const path = join(dir, "k");
    await writeNewKeyFile(path, formatInitialKey(key));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await readInitialKey(path), key);
    await assert.rejects(writeNewKeyFile(path, "x"), /Cannot write key ".*k": the file exists/);
    const state = join(dir, "s");
    await writeKeyState(state, { keyId: keyId(key), epoch: 3, key });
    assert.deepEqual(await readKeyState(state), { keyId: keyId(key), epoch: 3, key });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["k", "s"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key state given as the initial key, or a damaged key, is refused by name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  try {
    const key = newInitialKey();
    const state = join(dir, "state");
    await Deno.writeTextFile(state, formatKeyState({ keyId: keyId(key), epoch: 2, key }));
    await assert.rejects(readInitialKey(state), /it is a key state at epoch 2/);
    const bad = join(dir, "bad");
    await Deno.writeTextFile(bad, formatInitialKey(key).replace(/"key":"../, '"key":"00'));
    await assert.rejects(readInitialKey(bad), /key_id ".*" does not match its key/);
    await Deno.writeTextFile(bad, "not json");
    await assert.rejects(readInitialKey(bad), /not a virtmux key file/);
    await assert.rejects(readKeyState(join(dir, "none")), /Cannot read key ".*none": no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
