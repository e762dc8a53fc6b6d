/**
 * Tests of src/uri/remote.ts beyond the libvirt-9.0 oracle rows in uri_test.ts (each row there was
 * one observation of libvirt's client: open name, socket and ssh command together). The ssh
 * command line is tested in tests/transport/ssh_command_test.ts.
 */

import assert from "node:assert/strict";
import { defaultPort, unixSocketPath } from "../../src/uri/remote.ts";
import { parseUri } from "../../src/uri/uri.ts";

Deno.test("mode auto on a unix URI picks the per-driver socket when it exists", () => {
  const uri = parseUri("qemu:///system");
  const exists = (path: string) => path === "/var/run/libvirt/virtqemud-sock";
  assert.equal(
    unixSocketPath(uri, { readonly: false, uid: 0, exists }),
    "/var/run/libvirt/virtqemud-sock",
  );
  assert.equal(
    unixSocketPath(uri, { readonly: false, uid: 0, exists: () => false }),
    "/var/run/libvirt/libvirt-sock",
  );
  assert.equal(
    unixSocketPath(parseUri("qemu:///session"), {
      readonly: false,
      uid: 1000,
      exists: () => false,
      env: (n) => n === "XDG_CACHE_HOME" ? "/c" : undefined,
    }),
    "/c/libvirt/libvirt-sock",
  );
});

Deno.test("ports and sockets are refused for transports that have none", () => {
  assert.throws(() => defaultPort(parseUri("qemu:///system")), TypeError);
  assert.throws(() => defaultPort(parseUri("qemu+ext:///system?command=x")), TypeError);
  assert.throws(
    () => unixSocketPath(parseUri("qemu+tcp://h/system"), { readonly: false }),
    TypeError,
  );
});
