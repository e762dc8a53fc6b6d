import assert from "node:assert/strict";
import { LIMITS_DEFAULTS, messageBytes, readLimits } from "../../src/config/limits_section.ts";
import { problems, table } from "../_helpers/config_section.ts";

Deno.test("[limits] reads counts and durations in seconds as milliseconds", () => {
  const { checker, section } = table(
    "limits",
    "max_message_bytes = 262148\nmax_clients = 1\nconnect_timeout = 0.25\nidle_timeout = 3600",
  );
  assert.deepEqual(readLimits(checker, section), {
    ...LIMITS_DEFAULTS,
    maxMessageBytes: 262148,
    maxClients: 1,
    connectTimeoutMs: 250,
    idleTimeoutMs: 3_600_000,
  });
  assert.deepEqual(problems(checker), []);
});

Deno.test("[limits] bounds are checked at each key, and 0 only where it turns a timeout off", () => {
  const { checker, section } = table(
    "limits",
    [
      "max_message_bytes = 262147",
      "max_clients = 1048577",
      "max_inflight_per_client = 0",
      "connect_timeout = 0",
      "shutdown_grace = 0",
      "frame_timeout = 3601",
    ].join("\n"),
  );
  assert.deepEqual(readLimits(checker, section), { ...LIMITS_DEFAULTS, shutdownGraceMs: 0 });
  assert.deepEqual(problems(checker), [
    `2:1: "max_message_bytes" must be between 262148 (256 KiB + 4, the oldest daemons' limit and ` +
    `a full stream chunk) and 33554436 (32 MiB + 4, libvirt's own limit), got 262147`,
    `3:1: "max_clients" must be between 1 and 1048576, got 1048577`,
    `4:1: "max_inflight_per_client" must be between 1 and 65536, got 0`,
    `5:1: "connect_timeout" must be between 0.001 and 3600 seconds, got integer 0`,
    `7:1: "frame_timeout" must be between 0 and 3600 seconds, got integer 3601`,
  ]);
});

Deno.test("max_message_bytes is the one reader [limits], [[upstream]] and [[listen]] share", () => {
  const { checker, section } = table("x", "max_message_bytes = 33554436");
  assert.equal(messageBytes(checker, section, "max_message_bytes", undefined), 33554436);
});
