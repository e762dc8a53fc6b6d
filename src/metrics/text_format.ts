/**
 * Prometheus text exposition format (version 0.0.4): one sample line, label values escaped.
 *
 * @module
 */

/** Label names to values. */
export type Labels = Record<string, string>;

/** The content type of the text format. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * One sample line: `name{a="x",b="y"} value`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSample } from "./text_format.ts";
 *
 * assert.equal(formatSample("x_total", { kind: 'a"b' }, 2), 'x_total{kind="a\\"b"} 2');
 * ```
 */
export function formatSample(name: string, labels: Labels, value: number): string {
  let text = name;
  const keys = Object.keys(labels);
  if (keys.length > 0) {
    text += "{" + keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",") + "}";
  }
  return `${text} ${formatValue(value)}`;
}

/** A sample value: integers plainly, `+Inf`/`-Inf`/`NaN` as Prometheus spells them. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
