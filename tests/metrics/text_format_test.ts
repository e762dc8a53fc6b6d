import assert from "node:assert/strict";
import { escapeLabel, formatSample, formatValue } from "../../src/metrics/text_format.ts";

Deno.test("formatSample writes name, labels in order and value", () => {
  assert.equal(formatSample("a_total", {}, 3), "a_total 3");
  assert.equal(formatSample("a_total", { x: "1", y: "2" }, 0.5), 'a_total{x="1",y="2"} 0.5');
});

Deno.test("label values escape backslash, quote and newline", () => {
  assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

Deno.test("special values are spelled as Prometheus spells them", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(12), "12");
});
