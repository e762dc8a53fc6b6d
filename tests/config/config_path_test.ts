import assert from "node:assert/strict";
import { DEFAULT_CONFIG_PATH, findConfigPath } from "../../src/config/config_path.ts";

const env = (value: string | undefined) => ({
  getEnv: (name: string) => name === "VIRTMUX_CONFIG" ? value : undefined,
});

Deno.test("the --config flag wins, then a non-empty $VIRTMUX_CONFIG, then the default", () => {
  assert.equal(findConfigPath("flag.toml", env("env.toml")), "flag.toml");
  assert.equal(findConfigPath("", env("env.toml")), "", "an empty flag is still the flag");
  assert.equal(findConfigPath(undefined, env("env.toml")), "env.toml");
  assert.equal(findConfigPath(undefined, env("")), DEFAULT_CONFIG_PATH);
  assert.equal(findConfigPath(undefined, env(undefined)), DEFAULT_CONFIG_PATH);
  assert.equal(DEFAULT_CONFIG_PATH, "/etc/virtmux/virtmux.toml");
});
