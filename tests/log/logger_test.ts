import assert from "node:assert/strict";
import { Logger } from "../../src/log/logger.ts";

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function capture(options: ConstructorParameters<typeof Logger>[0] = {}) {
  const lines: string[] = [];
  return { lines, log: new Logger({ ...options, sink: (line) => lines.push(line) }) };
}

Deno.test("text records carry time, level, message and fields, quoting what needs it", () => {
  const { lines, log } = capture();
  log.child({ client: 3, upstream: "hv1" }).warning("Upstream closed", {
    reason: "end of file",
    gone: undefined,
    path: "/run/a.sock",
  });
  assert.equal(lines.length, 1);
  const [time, ...rest] = lines[0].split(" ");
  assert.match(time, TIME);
  assert.equal(
    rest.join(" "),
    'WARNING Upstream closed client=3 upstream=hv1 reason="end of file" path=/run/a.sock',
  );
});

Deno.test("json records are one object per line, without undefined fields", () => {
  const { lines, log } = capture({ format: "json", fields: { listener: "/a" } });
  log.error("Cannot accept", { errno: 24, retry: false, none: undefined });
  const record = JSON.parse(lines[0]);
  assert.match(record.time, TIME);
  delete record.time;
  assert.deepEqual(record, {
    level: "error",
    msg: "Cannot accept",
    listener: "/a",
    errno: 24,
    retry: false,
  });
});

Deno.test("records under the level are dropped, and configure changes level and format", () => {
  const { lines, log } = capture({ level: "warning" });
  log.debug("no");
  log.info("no");
  log.warning("yes");
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("error"), true);
  log.configure("debug", "json");
  log.debug("now");
  assert.equal(lines.length, 2);
  assert.ok(lines[0].includes("WARNING yes"));
  assert.equal(JSON.parse(lines[1]).msg, "now");
});

Deno.test("a child inherits level, format and fields, and its own fields win", () => {
  const { lines, log } = capture({ level: "error", format: "json", fields: { a: 1, b: 1 } });
  const child = log.child({ b: 2 });
  child.warning("dropped");
  child.error("kept", { c: 3 });
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]);
  assert.deepEqual([record.a, record.b, record.c], [1, 2, 3]);
});
