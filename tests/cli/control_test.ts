import assert from "node:assert/strict";
import { join } from "node:path";
import { CONTROL_USAGE, runControl } from "../../src/cli/control.ts";
import { ControlServer } from "../../src/control/server.ts";
import { Logger } from "../../src/log/logger.ts";

function capture() {
  const lines = { out: [] as string[], err: [] as string[] };
  return {
    lines,
    out: {
      print: (l: string) => void lines.out.push(l),
      error: (l: string) => void lines.err.push(l),
    },
  };
}

Deno.test("--help prints the command's usage", async () => {
  for (const command of ["status", "clients", "client-disconnect"] as const) {
    const { lines, out } = capture();
    assert.equal(await runControl(command, ["--help"], out), 0);
    assert.equal(lines.out[0], CONTROL_USAGE[command]);
  }
});

Deno.test("a missing, extra or bad id is a usage error (exit 2)", async () => {
  const table: [("status" | "clients" | "client-disconnect"), string[], RegExp][] = [
    ["client-disconnect", [], /missing ID/],
    ["client-disconnect", ["x"], /"x" is not a client id/],
    ["client-disconnect", ["0"], /"0" is not a client id/],
    ["status", ["extra"], /unexpected argument "extra"/],
  ];
  for (const [command, args, error] of table) {
    const { lines, out } = capture();
    assert.equal(await runControl(command, args, out), 2, args.join(" "));
    assert.match(lines.err[0], error);
  }
});

Deno.test("a config with the control socket off says so (exit 1)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-cli-control-" });
  try {
    const config = join(dir, "v.toml");
    await Deno.writeTextFile(config, '[control]\nsocket = ""\n');
    const { lines, out } = capture();
    assert.equal(await runControl("status", ["--config", config], out), 1);
    assert.match(lines.err[0], /turns the control socket off/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--socket reaches a control server; --json prints the response", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-cli-control-" });
  const path = join(dir, "c.sock");
  const server = await ControlServer.listen(path, {
    logger: new Logger({ level: "error" }),
    target: {
      snapshot: () => ({
        pid: 1,
        startedAt: 0,
        listeners: [],
        upstreams: [],
        pools: [],
        clients: [],
      }),
      disconnect: () => false,
    },
  });
  try {
    const json = capture();
    assert.equal(await runControl("clients", ["--socket", path, "--json"], json.out), 0);
    assert.deepEqual(JSON.parse(json.lines.out[0]), { ok: true, clients: [] });
    const text = capture();
    assert.equal(await runControl("status", ["--socket", path], text.out), 0);
    assert.match(text.lines.out[0], /^virtmux pid 1, up /);
    const gone = capture();
    assert.equal(await runControl("client-disconnect", ["--socket", path, "4"], gone.out), 1);
    assert.equal(gone.lines.err[0], "virtmux: No client with id 4 is connected");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
