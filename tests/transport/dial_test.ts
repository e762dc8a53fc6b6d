/**
 * Tests of the dispatcher in src/transport/dial.ts; each transport has its own test file (tls and
 * ssh end to end under tests/integration/).
 */

import assert from "node:assert/strict";
import { DEFAULTS } from "../../src/config/schema.ts";
import { DialError } from "../../src/transport/channel.ts";
import { DEFAULT_DIAL_TIMEOUT_MS, dial } from "../../src/transport/dial.ts";
import { type LibvirtUri, parseUri } from "../../src/uri/uri.ts";
import { closedPort, roundTrip } from "../_helpers/channel_echo.ts";

Deno.test("dial picks the transport the URI names", async () => {
  const ext = await dial(parseUri("test+ext:///default?command=/bin/cat"), { name: "cat" });
  try {
    await roundTrip(ext);
  } finally {
    ext.close();
  }
  const port = closedPort();
  await assert.rejects(dial(parseUri(`test+tcp://127.0.0.1:${port}/default`), { name: "t" }), {
    message: new RegExp(` at 127\\.0\\.0\\.1:${port}: `),
  });
  await assert.rejects(
    dial(parseUri("test+unix:///default?socket=/nonexistent/virtmux.sock"), { name: "u" }),
    { message: / at socket "\/nonexistent\/virtmux\.sock": / },
  );
});

Deno.test("dial refuses a transport it does not know, naming upstream and URI", async () => {
  const uri = {
    ...parseUri("test:///default"),
    transport: "carrier-pigeon",
  } as unknown as LibvirtUri;
  await assert.rejects(dial(uri, { name: "hv1" }), (error: unknown) => {
    assert.ok(error instanceof DialError);
    assert.equal(
      error.message,
      'Cannot connect to upstream "hv1" (test:///default): transport "carrier-pigeon" is not supported yet',
    );
    return true;
  });
});

Deno.test("the default dial timeout is the config's default connect_timeout", () => {
  assert.equal(DEFAULT_DIAL_TIMEOUT_MS, DEFAULTS.limits.connectTimeoutMs);
});
