import assert from "node:assert/strict";
import { parseListenAddress, serveMetrics } from "../../src/metrics/http_server.ts";
import { Logger } from "../../src/log/logger.ts";

Deno.test("parseListenAddress takes HOST:PORT and [IPV6]:PORT", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:9477"), { hostname: "127.0.0.1", port: 9477 });
  assert.deepEqual(parseListenAddress("[::1]:1"), { hostname: "::1", port: 1 });
  for (const bad of ["127.0.0.1", "x:70000", ":1"]) {
    assert.throws(() => parseListenAddress(bad), SyntaxError, bad);
  }
});

Deno.test("GET /metrics answers the rendered text; other paths 404, other methods 405", async () => {
  const server = serveMetrics("127.0.0.1:0", {
    render: () => "x_total 1\n",
    logger: new Logger({ level: "error" }),
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const ok = await fetch(`${base}/metrics`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(await ok.text(), "x_total 1\n");
    const missing = await fetch(`${base}/`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await server.close();
  }
});
