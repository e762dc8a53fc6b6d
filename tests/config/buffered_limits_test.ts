import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/load.ts";

const UPSTREAM = '[[upstream]]\nname = "hv1"\nuri = "qemu+tls://hv1.example.com/system"\n';
const LISTEN = '[[listen]]\nsocket = "/run/virtmux/a.sock"\n';

function errorOf(text: string): string {
  try {
    parseConfig(text, "v.toml");
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("[limits] max_buffered_bytes and min_frame_rate are read", () => {
  const config = parseConfig(
    "[limits]\nmax_message_bytes = 1048580\nmax_buffered_bytes = 16777216\nmin_frame_rate = 0\n" +
      UPSTREAM + LISTEN,
    "b.toml",
  );
  assert.equal(config.limits.maxBufferedBytes, 16777216);
  assert.equal(config.limits.minFrameRate, 0);
});

Deno.test("max_buffered_bytes smaller than max_message_bytes is refused at its position", () => {
  assert.equal(
    errorOf("[limits]\nmax_buffered_bytes = 1048576\n" + UPSTREAM + LISTEN),
    'v.toml:2:1: "max_buffered_bytes" must be at least max_message_bytes (33554436), so that a ' +
      "largest frame fits, got 1048576",
  );
});

Deno.test("min_frame_rate must be a non-negative integer", () => {
  assert.equal(
    errorOf('[limits]\nmin_frame_rate = "fast"\n' + UPSTREAM + LISTEN),
    'v.toml:2:1: "min_frame_rate" must be an integer, got string "fast"',
  );
  assert.match(errorOf("[limits]\nmin_frame_rate = -1\n" + UPSTREAM + LISTEN), /^v\.toml:2:1: /);
});
