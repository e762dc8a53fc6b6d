import assert from "node:assert/strict";
import { DEFAULTS, MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES } from "../../src/config/schema.ts";

Deno.test("the defaults the section tables declare are the documented ones", () => {
  assert.deepEqual(DEFAULTS, {
    log: { level: "info", format: "text" },
    limits: {
      maxMessageBytes: 33554436,
      maxClients: 4096,
      maxInflightPerClient: 32,
      connectTimeoutMs: 10_000,
      shutdownGraceMs: 5_000,
      openTimeoutMs: 30_000,
      frameTimeoutMs: 30_000,
      idleTimeoutMs: 0,
      maxBufferedBytes: 256 << 20,
      minFrameRate: 1 << 20,
    },
    upstream: {
      share: false,
      poolMax: 4,
      maxPools: 16,
      maxInflightPerConnection: 5,
      idleTimeoutMs: 300000,
      keepaliveIntervalMs: 5000,
      keepaliveCount: 5,
      surviveRestart: false,
      restartWaitMs: 30000,
    },
    listener: {
      mode: 0o660,
      readonly: false,
      routeByName: false,
      allowUpstreams: [],
      denyProcedures: [],
      allowProcedures: [],
      programs: ["remote", "qemu", "lxc"],
      allowUids: [],
      allowGids: [],
      keepaliveIntervalMs: 5000,
      keepaliveCount: 5,
    },
    audit: {
      enabled: false,
      path: "/var/log/virtmux/audit.jsonl",
      rotateBytes: 67108864,
      keep: 10,
      sealIntervalMs: 5000,
      backpressure: "block",
      maxBufferedBytes: 4194304,
      syncIntervalMs: 100,
      mode: 0o600,
      maxRecordBytes: 131072,
      redactFields: [],
      rules: [],
    },
    metrics: { listen: "" },
    control: { socket: "auto" },
  });
});

Deno.test("max_message_bytes lies between 256 KiB + 4 and 32 MiB + 4", () => {
  assert.equal(MIN_MESSAGE_BYTES, 256 * 1024 + 4);
  assert.equal(MAX_MESSAGE_BYTES, 32 * 1024 * 1024 + 4);
});
