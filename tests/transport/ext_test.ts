import assert from "node:assert/strict";
import { dialExt } from "../../src/transport/ext.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { roundTrip } from "../_helpers/channel_echo.ts";

Deno.test("dialExt runs command= and carries bytes over its stdin and stdout", async () => {
  const channel = await dialExt(parseUri("test+ext:///default?command=/bin/cat"), { name: "cat" });
  try {
    await roundTrip(channel);
  } finally {
    channel.close();
    await channel.status;
  }
});

Deno.test("dialExt refuses a URI without command= and a program it cannot run", async () => {
  const parsed = parseUri("test+ext:///default?command=x");
  const withoutCommand = { ...parsed, options: { ...parsed.options, command: undefined } };
  await assert.rejects(dialExt(withoutCommand, { name: "hv1" }), {
    name: "DialError",
    message:
      'Cannot connect to upstream "hv1" (test+ext:///default?command=x): the ext transport needs a command= parameter',
  });
  const missing = parseUri("test+ext:///default?command=/nonexistent/virtmux-ext");
  await assert.rejects(dialExt(missing, { name: "hv1" }), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.match(error.message, /: cannot run "\/nonexistent\/virtmux-ext": /);
    return true;
  });
});
