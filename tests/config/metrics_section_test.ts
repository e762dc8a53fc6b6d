import assert from "node:assert/strict";
import { METRICS_DEFAULTS, readMetrics } from "../../src/config/metrics_section.ts";
import { problems, table } from "../_helpers/config_section.ts";

Deno.test("[metrics] accepts an empty listen, the default", () => {
  const { checker, section } = table("metrics", 'listen = ""');
  assert.deepEqual(readMetrics(checker, section), { listen: "" });
  assert.deepEqual(METRICS_DEFAULTS, { listen: "" });
  assert.deepEqual(problems(checker), []);
});

Deno.test("[metrics] refuses an address: metrics are not built yet", () => {
  const { checker, section } = table("metrics", 'listen = "127.0.0.1:9477"');
  readMetrics(checker, section);
  assert.deepEqual(problems(checker), ["2:1: metrics are not built yet"]);
});
