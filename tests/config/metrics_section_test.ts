import assert from "node:assert/strict";
import { METRICS_DEFAULTS, readMetrics } from "../../src/config/metrics_section.ts";
import { problems, table } from "../_helpers/config_section.ts";

Deno.test("[metrics] accepts an empty listen, the default", () => {
  const { checker, section } = table("metrics", 'listen = ""');
  assert.deepEqual(readMetrics(checker, section), { listen: "" });
  assert.deepEqual(METRICS_DEFAULTS, { listen: "" });
  assert.deepEqual(problems(checker), []);
});

Deno.test("[metrics] accepts HOST:PORT and [IPV6]:PORT", () => {
  for (const address of ["127.0.0.1:9477", "[::1]:9477", "localhost:0", "0.0.0.0:65535"]) {
    const { checker, section } = table("metrics", `listen = "${address}"`);
    assert.deepEqual(readMetrics(checker, section), { listen: address });
    assert.deepEqual(problems(checker), [], address);
  }
});

Deno.test("[metrics] refuses what is not HOST:PORT", () => {
  for (const address of ["127.0.0.1", ":9477", "host:99999", "::1:9477", "a b:1"]) {
    const { checker, section } = table("metrics", `listen = "${address}"`);
    readMetrics(checker, section);
    assert.deepEqual(problems(checker), [
      `2:1: "${address}" is not an address to listen on: expected HOST:PORT, e.g. "127.0.0.1:9477"`,
    ]);
  }
});
