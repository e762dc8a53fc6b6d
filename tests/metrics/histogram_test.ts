import assert from "node:assert/strict";
import { CALL_BUCKETS, DIAL_BUCKETS, Histogram } from "../../src/metrics/histogram.ts";

Deno.test("a histogram renders cumulative buckets, +Inf, sum and count", () => {
  const histogram = new Histogram([0.1, 1]);
  for (const value of [0.05, 0.1, 0.5, 2]) histogram.observe(value);
  const out: string[] = [];
  histogram.render(out, "x_seconds", { upstream: "hv1" });
  assert.deepEqual(out, [
    'x_seconds_bucket{upstream="hv1",le="0.1"} 2',
    'x_seconds_bucket{upstream="hv1",le="1"} 3',
    'x_seconds_bucket{upstream="hv1",le="+Inf"} 4',
    'x_seconds_sum{upstream="hv1"} 2.65',
    'x_seconds_count{upstream="hv1"} 4',
  ]);
  assert.equal(histogram.count, 4);
});

Deno.test("bucket bounds ascend", () => {
  for (const bounds of [CALL_BUCKETS, DIAL_BUCKETS]) {
    for (let i = 1; i < bounds.length; i++) assert.ok(bounds[i] > bounds[i - 1]);
  }
});
