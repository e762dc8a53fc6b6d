import assert from "node:assert/strict";
import { join } from "node:path";
import { type Channel, writeAll } from "../../src/transport/channel.ts";
import { channelDiagnostics, type ChildChannel } from "../../src/transport/child_channel.ts";
import { dial } from "../../src/transport/dial.ts";
import { Logger } from "../../src/log/logger.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { startSshd } from "./helpers/sshd.ts";

const logger = new Logger({ level: "error", sink: () => {} });

/** REMOTE AUTH_LIST (66), serial 1, empty body. */
function authListCall(): Uint8Array {
  const frame = new Uint8Array(28);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 28);
  view.setUint32(4, 0x20008086);
  view.setUint32(8, 1);
  view.setUint32(12, 66);
  view.setUint32(20, 1);
  return frame;
}

/** Sends AUTH_LIST and checks that an OK REPLY with serial 1 comes back. */
async function assertAuthListReply(channel: Channel): Promise<void> {
  await writeAll(channel, authListCall());
  const buffer = new Uint8Array(64);
  let got = 0;
  while (got < 28) {
    const count = await channel.read(buffer.subarray(got));
    assert.notEqual(count, null, `end of stream: ${channelDiagnostics(channel)}`);
    got += count!;
  }
  const view = new DataView(buffer.buffer);
  assert.deepEqual(
    [view.getUint32(12), view.getUint32(16), view.getUint32(20), view.getUint32(24)],
    [66, 1, 1, 0],
  );
}

function open(text: string, timeoutMs = 5000): Promise<Channel> {
  return dial(parseUri(text), { name: "hv1", logger, timeoutMs });
}

Deno.test({
  name: "transports reach a real libvirtd over tls, ssh and ext",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const daemon = await startLibvirtd({ tls: true, pki: { otherCa: true } });
    const sshd = await startSshd();
    try {
      const pki = daemon.pki!;
      const port = daemon.tlsPort!;

      await t.step("tls with pkipath= exchanges a call", async () => {
        const channel = await open(
          `test+tls://localhost:${port}/default?pkipath=${pki.clientPkiPath}`,
        );
        try {
          await assertAuthListReply(channel);
        } finally {
          channel.close();
        }
      });

      await t.step("tls names a host name mismatch", async () => {
        await assert.rejects(
          () => open(`test+tls://vm:${port}/default?pkipath=${pki.clientPkiPath}`),
          /^DialError: Cannot connect to upstream "hv1" \(test\+tls:\/\/vm:\d+\/default\?pkipath=.*\) at vm:\d+: the server certificate does not match the host name "vm" \(name mismatch\)/,
        );
      });

      await t.step("tls no_verify=1 accepts the mismatched name", async () => {
        const channel = await open(
          `test+tls://vm:${port}/default?pkipath=${pki.clientPkiPath}&no_verify=1`,
        );
        try {
          await assertAuthListReply(channel);
        } finally {
          channel.close();
        }
      });

      await t.step("tls names a wrong CA", async () => {
        await assert.rejects(
          () => open(`test+tls://localhost:${port}/default?pkipath=${pki.otherCa!.clientPkiPath}`),
          /the server certificate is not signed by the CA in ".*cacert\.pem" \(wrong CA\)/,
        );
      });

      await t.step("tls says when the daemon refuses our certificate", async () => {
        const rogue = join(pki.dir, "rogue");
        await Deno.mkdir(rogue);
        await Deno.copyFile(pki.ca.cert, join(rogue, "cacert.pem"));
        await Deno.copyFile(pki.otherCa!.client.cert, join(rogue, "clientcert.pem"));
        await Deno.copyFile(pki.otherCa!.client.key, join(rogue, "clientkey.pem"));
        await assert.rejects(
          () => open(`test+tls://localhost:${port}/default?pkipath=${rogue}&no_sanity=1`),
          /the daemon rejected our certificate or address/,
        );
      });

      await t.step("tls times out on a silent peer", async () => {
        const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const held: Deno.Conn[] = [];
        (async () => {
          for await (const conn of silent) held.push(conn);
        })();
        try {
          const silentPort = (silent.addr as Deno.NetAddr).port;
          await assert.rejects(
            () =>
              open(`test+tls://localhost:${silentPort}/default?pkipath=${pki.clientPkiPath}`, 300),
            /timed out after 300 ms/,
          );
        } finally {
          silent.close();
          for (const conn of held) conn.close();
        }
      });

      await t.step("ssh through a real sshd and nc exchanges a call", async () => {
        const channel = await open(
          `test+ssh://${sshd.user}@127.0.0.1:${sshd.port}/default?socket=${daemon.unixSocket}&command=${sshd.sshCommand}`,
        );
        try {
          await assertAuthListReply(channel);
        } finally {
          channel.close();
          await (channel as ChildChannel).status;
        }
      });

      await t.step("ssh failure text reaches diagnostics", async () => {
        const channel = await open(
          `test+ssh://nobody@127.0.0.1:${sshd.port}/default?socket=${daemon.unixSocket}&command=${sshd.sshCommand}`,
        );
        try {
          await writeAll(channel, authListCall()).catch(() => {});
          assert.equal(await channel.read(new Uint8Array(64)), null);
          assert.match(channelDiagnostics(channel), /Permission denied \(publickey\)/);
        } finally {
          channel.close();
        }
      });

      await t.step("ext runs command= and exchanges a call", async () => {
        const script = join(pki.dir, "ext.sh");
        await Deno.writeTextFile(
          script,
          `#!/bin/sh\nexec socat - UNIX-CONNECT:${daemon.unixSocket}\n`,
        );
        await Deno.chmod(script, 0o755);
        const channel = await open(`test+ext:///default?command=${script}`);
        try {
          await assertAuthListReply(channel);
        } finally {
          channel.close();
          await (channel as ChildChannel).status;
        }
      });
    } finally {
      await sshd.stop();
      await daemon.stop();
    }
  },
});
