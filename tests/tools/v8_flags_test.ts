import assert from "node:assert/strict";
import { V8_FLAGS } from "../../tools/v8_flags.ts";

const DENO_JSON = new URL("../../deno.json", import.meta.url);

Deno.test("deno task start runs virtmux with the V8 flags the binary is compiled with", async () => {
  const config = JSON.parse(await Deno.readTextFile(DENO_JSON));
  const words: string[] = config.tasks.start.split(" ");
  assert.ok(words.includes(V8_FLAGS), `deno.json's start task lacks ${V8_FLAGS}`);
  assert.ok(words.indexOf(V8_FLAGS) < words.indexOf("main.ts"), "flags go before main.ts");
});

Deno.test("this Deno accepts the V8 flags, and they bound the young generation", async () => {
  // Deno refuses to start with a flag V8 does not know; under allocation, the young generation
  // stays within its three semi-spaces.
  const script = "import v8 from 'node:v8'; let keep = [];" +
    "for (let i = 0; i < 1e7; i++) { keep.push({ i }); if (keep.length > 1e6) keep = []; }" +
    "const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');" +
    "console.log(young.space_size);";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", V8_FLAGS, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const young = Number(new TextDecoder().decode(out.stdout).trim());
  const semiSpaceMiB = Number(V8_FLAGS.match(/--max-semi-space-size=(\d+)/)![1]);
  assert.ok(young <= 3 * semiSpaceMiB * 1024 * 1024, `young generation of ${young} bytes`);
});
