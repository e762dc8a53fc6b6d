/**
 * Tests of src/transport/ssh.ts, the dialer; the command line it runs is tested in
 * ssh_command_test.ts and a real sshd in tests/integration/upstream_ssh_ext_test.ts.
 */

import assert from "node:assert/strict";
import { DialError } from "../../src/transport/channel.ts";
import { dialSsh } from "../../src/transport/ssh.ts";
import { parseUri } from "../../src/uri/uri.ts";

Deno.test("dialSsh refuses parameters libvirt refuses, naming upstream and URI", async () => {
  const text = "qemu+libssh://h/system?known_hosts_verify=bogus";
  await assert.rejects(dialSsh(parseUri(text), { name: "hv1", uid: 0 }), (error: unknown) => {
    assert.ok(error instanceof DialError);
    assert.equal(
      error.message,
      `Cannot connect to upstream "hv1" (${text}): Invalid host key verification method: "bogus"`,
    );
    assert.ok(error.cause instanceof TypeError);
    return true;
  });
});

Deno.test("dialSsh says which ssh command it could not run", async () => {
  const text = "qemu+ssh://h/system?command=/nonexistent/virtmux-ssh";
  await assert.rejects(dialSsh(parseUri(text), { name: "hv1", uid: 0 }), {
    name: "DialError",
    message: new RegExp(
      `^Cannot connect to upstream "hv1" \\(.*\\): cannot run "/nonexistent/virtmux-ssh": `,
    ),
  });
});

Deno.test("dialSsh runs command= in place of ssh, with libvirt's argv", async () => {
  // A script stands in for ssh and prints the arguments it was given, one per line.
  const dir = await Deno.makeTempDir({ prefix: "virtmux-ssh-" });
  const script = `${dir}/fake-ssh`;
  await Deno.writeTextFile(script, '#!/bin/sh\nprintf "%s\\n" "$@"\n');
  await Deno.chmod(script, 0o755);
  try {
    const channel = await dialSsh(parseUri(`qemu+ssh://user@h:2222/system?command=${script}`), {
      name: "hv1",
      uid: 0,
    });
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    for (let n = await channel.read(buffer); n !== null; n = await channel.read(buffer)) {
      chunks.push(buffer.slice(0, n));
    }
    channel.close();
    const argv = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])))
      .trimEnd().split("\n");
    assert.deepEqual(argv.slice(0, 9), ["-p", "2222", "-l", "user", "-T", "-e", "none", "--", "h"]);
    assert.match(argv[9], /^sh -c 'which virt-ssh-helper/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
