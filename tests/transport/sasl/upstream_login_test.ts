import assert from "node:assert/strict";
import { channelIsSecure } from "../../../src/transport/sasl/upstream_login.ts";
import { parseUri } from "../../../src/uri/uri.ts";

Deno.test("channels count as secure as libvirt's client counts them: not tcp, not ext", () => {
  const rows: [string, boolean][] = [
    ["qemu:///system", true],
    ["qemu+unix:///system", true],
    ["qemu+tls://h/system", true],
    ["qemu+ssh://h/system", true],
    ["qemu+libssh2://h/system", true],
    ["qemu+tcp://h/system", false],
    ["qemu+ext:///system?command=/bin/true", false],
  ];
  for (const [uri, secure] of rows) assert.equal(channelIsSecure(parseUri(uri)), secure, uri);
});
