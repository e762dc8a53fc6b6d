import assert from "node:assert/strict";
import { Counter, MetricsRegistry } from "../../src/metrics/registry.ts";

Deno.test("a registry renders HELP, TYPE and samples in the order families were added", () => {
  const registry = new MetricsRegistry();
  const seals = registry.counter("virtmux_audit_seals_total", "Seals");
  const errors = registry.counter("x_errors_total", "Errors", ["kind"]);
  registry.collected("x_up", "Up", "gauge", (out, name) => out.push(`${name} 1`));
  seals.inc();
  seals.inc(2);
  errors.labels("oversize").inc();
  assert.equal(
    registry.render(),
    [
      "# HELP virtmux_audit_seals_total Seals",
      "# TYPE virtmux_audit_seals_total counter",
      "virtmux_audit_seals_total 3",
      "# HELP x_errors_total Errors",
      "# TYPE x_errors_total counter",
      'x_errors_total{kind="oversize"} 1',
      "# HELP x_up Up",
      "# TYPE x_up gauge",
      "x_up 1",
      "",
    ].join("\n"),
  );
  assert.deepEqual(registry.names, ["virtmux_audit_seals_total", "x_errors_total", "x_up"]);
});

Deno.test("a family name can be registered once", () => {
  const registry = new MetricsRegistry();
  registry.counter("a_total", "A");
  assert.throws(() => registry.counter("a_total", "again"), /exists already/);
});

Deno.test("labels() returns the same child for the same values and checks their count", () => {
  const counter = new Counter("c_total", "C", ["a", "b"]);
  counter.labels("1", "2").inc();
  counter.labels("1", "2").inc();
  assert.equal(counter.labels("1", "2").value, 2);
  assert.throws(() => counter.labels("1"), RangeError);
});
