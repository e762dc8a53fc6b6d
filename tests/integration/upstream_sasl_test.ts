/**
 * virtmux's own SASL client (src/transport/sasl/) against a real libvirtd 9.0 that requires SASL
 * on its unix socket, tcp and tls, from a private sasldb: SCRAM-SHA-256 on unix and tls (no
 * security layer), DIGEST-MD5 with a security layer on plain tcp, then CONNECT_OPEN and
 * CONNECT_LIST_ALL_DOMAINS over the result, and 300 KB each way through the security layer.
 * virsh with an auth.conf is the baseline.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { SaslError } from "../../src/transport/sasl/authenticate.ts";
import { loginUpstream } from "../../src/transport/sasl/upstream_login.ts";
import { SaslChannel } from "../../src/transport/sasl_channel.ts";
import { dial } from "../../src/transport/dial.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { AuthType, ErrorCode, HEADER_BYTES, RemoteProc } from "../../src/wire/constants.ts";
import { readU32 } from "../../src/wire/header.ts";
import { encodeWords } from "../../src/wire/message.ts";
import { encodeOpenArgs, encodeOptionalString } from "../../src/wire/open_args.ts";
import { resolveProcedureName } from "../../src/wire/procedure_names.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { RpcClient } from "./helpers/rpc_client.ts";
import { virsh } from "./helpers/virsh.ts";

const USER = "alice";
const PASSWORD = "correct horse";

function authConf(authname: string, password: string): string {
  return `# test credentials\n[credentials-lab]\nauthname = ${authname}\npassword=${password}\n\n` +
    `[auth-libvirt-default]\ncredentials=lab\n`;
}

/** The names in a CONNECT_LIST_ALL_DOMAINS reply. */
function domainNames(reply: Uint8Array): string[] {
  const count = readU32(reply, HEADER_BYTES);
  const names: string[] = [];
  let at = HEADER_BYTES + 4;
  for (let i = 0; i < count; i++) {
    const length = readU32(reply, at);
    names.push(new TextDecoder().decode(reply.subarray(at + 4, at + 4 + length)));
    at += 4 + ((length + 3) & ~3) + 16 + 4; // name, uuid, id
  }
  return names;
}

/** XDR remote_nonnull_string. */
function xdrString(text: string): Uint8Array {
  return encodeOptionalString(text).subarray(4);
}

function procedure(name: string): number {
  return resolveProcedureName(name)!.procedure;
}

/**
 * Defines a domain whose XML is over 300 KB and reads it back: both directions then cross the
 * security layer in many packets.
 */
async function defineAndReadBack(client: RpcClient): Promise<void> {
  const description = "x".repeat(300_000);
  const xml = `<domain type='test'><name>big</name><memory>1024</memory>` +
    `<description>${description}</description><os><type>hvm</type></os></domain>`;
  const defined = await client.call(procedure("DOMAIN_DEFINE_XML"), xdrString(xml));
  const dom = defined.subarray(HEADER_BYTES); // remote_nonnull_domain, as the next call takes it
  const reply = await client.call(
    procedure("DOMAIN_GET_XML_DESC"),
    new Uint8Array([...dom, 0, 0, 0, 0]),
  );
  const text = new TextDecoder().decode(reply.subarray(HEADER_BYTES + 4));
  assert.ok(text.includes(description), `XML of ${text.length} bytes lacks the description`);
  await client.call(procedure("DOMAIN_UNDEFINE"), dom);
}

/**
 * Dials `uri`, logs in (loginUpstream), checks that the daemon now answers AUTH_LIST with "none"
 * as it would a daemon without auth, opens the test driver and lists its domains.
 */
async function loginAndList(uri: string, big = false) {
  const parsed = parseUri(uri);
  const dialed = await dial(parsed, { name: "sasl-test", timeoutMs: 5000 });
  let channel = dialed;
  try {
    const login = await loginUpstream(dialed, { name: "sasl-test", uri: parsed, timeoutMs: 5000 });
    channel = login.channel;
    assert.deepEqual(login.authTypes, [AuthType.SASL]);
    const client = new RpcClient(channel);
    const authList = await client.call(RemoteProc.AUTH_LIST);
    assert.deepEqual(
      [readU32(authList, HEADER_BYTES), readU32(authList, HEADER_BYTES + 4)],
      [1, AuthType.NONE],
    );
    await client.call(
      RemoteProc.CONNECT_OPEN,
      encodeOpenArgs({ name: "test:///default", flags: 0 }),
    );
    const reply = await client.call(RemoteProc.CONNECT_LIST_ALL_DOMAINS, encodeWords(1, 0));
    if (big) await defineAndReadBack(client);
    return { ...login, names: domainNames(reply) };
  } finally {
    channel.close();
  }
}

Deno.test({
  name: "virtmux's SASL client logs in to a real libvirtd over unix and tcp",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const daemon = await startLibvirtd({ tls: true, sasl: { users: { [USER]: PASSWORD } } });
    try {
      const good = join(daemon.dir, "auth.conf");
      const bad = join(daemon.dir, "auth-bad.conf");
      const empty = join(daemon.dir, "auth-empty.conf");
      await Deno.writeTextFile(good, authConf(USER, PASSWORD));
      await Deno.writeTextFile(bad, authConf(USER, "wrong"));
      await Deno.writeTextFile(empty, "[credentials-other]\nauthname=x\n");
      const unix = (file: string) => `${daemon.uris.unix}&authfile=${file}`;
      const tcp = (file: string) => `${daemon.uris.tcp}?authfile=${file}`;
      const tls = (file: string) => `${daemon.uris.tls}&authfile=${file}`;

      await t.step(
        "baseline: virsh with the auth.conf lists the domain over unix, tcp and tls",
        async () => {
          for (const uri of [daemon.uris.unix, daemon.uris.tcp, daemon.uris.tls!]) {
            const result = await virsh(uri, ["list", "--all"], {
              env: { LIBVIRT_AUTH_FILE: good },
            });
            assert.equal(result.code, 0, result.stderr);
            assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
          }
        },
      );

      await t.step("unix: SCRAM-SHA-256, no security layer, domain test listed", async () => {
        const result = await loginAndList(unix(good));
        assert.equal(result.mechanism, "SCRAM-SHA-256");
        assert.equal(result.ssf, 0);
        assert.equal(result.channel instanceof SaslChannel, false);
        assert.deepEqual(result.names, ["test"]);
      });

      await t.step("tcp: DIGEST-MD5 with a security layer, domain test listed", async () => {
        const result = await loginAndList(tcp(good), true);
        assert.equal(result.mechanism, "DIGEST-MD5");
        assert.ok(result.ssf >= 56, `ssf ${result.ssf}`);
        assert.ok(result.channel instanceof SaslChannel);
        assert.deepEqual(result.names, ["test"]);
      });

      await t.step("tls: SCRAM-SHA-256 inside TLS, domain test listed", async () => {
        const result = await loginAndList(tls(good));
        assert.equal(result.mechanism, "SCRAM-SHA-256");
        assert.deepEqual(result.names, ["test"]);
      });

      await t.step("auth=sasl.digest-md5 picks that mechanism on unix too", async () => {
        const result = await loginAndList(`${unix(good)}&auth=sasl.digest-md5`, true);
        assert.equal(result.mechanism, "DIGEST-MD5");
      });

      for (const [label, uri] of [["unix", unix(bad)], ["tcp", tcp(bad)]]) {
        await t.step(
          `${label}: a wrong password is libvirt's authentication failed (45)`,
          async () => {
            const error = await loginAndList(uri).then(() => null, (e) => e);
            assert.ok(error instanceof SaslError, String(error));
            assert.equal(error.code, ErrorCode.AUTH_FAILED);
            assert.equal(error.message, "authentication failed: authentication failed");
          },
        );
      }

      await t.step("a socket without auth (read-only) is left as it is", async () => {
        const uri = parseUri(`test+unix:///default?socket=${daemon.roSocket}`);
        const channel = await dial(uri, { name: "sasl-test", timeoutMs: 5000 });
        try {
          const login = await loginUpstream(channel, { name: "sasl-test", uri, timeoutMs: 5000 });
          assert.deepEqual(login.authTypes, [AuthType.NONE]);
          assert.equal(login.channel, channel);
          assert.equal(login.mechanism, undefined);
        } finally {
          channel.close();
        }
      });

      await t.step("a missing credential names the auth.conf that was read", async () => {
        const error = await loginAndList(unix(empty)).then(() => null, (e) => e);
        assert.ok(error instanceof SaslError, String(error));
        assert.equal(error.code, ErrorCode.AUTH_FAILED);
        assert.match(error.message, /no "authname" credential for host "localhost"/);
        assert.ok(error.message.includes(`"${empty}" (authfile=)`), error.message);
      });
    } finally {
      await daemon.stop();
    }
  },
});
