/**
 * virtmux in front of a real libvirtd 9.0 that requires SASL (a private sasldb: SCRAM-SHA-256 on
 * its unix socket and TLS, DIGEST-MD5 with a security layer on plain tcp), with virsh and
 * python-libvirt as clients: shared pools and `sasl = "proxy"` dedicated upstreams log in with
 * credentials from auth.conf (right, wrong and missing), 50 clients share one SASL-authenticated
 * pool, pools log in again after a daemon restart, and a dedicated passthrough client may take
 * longer than open_timeout to type its password.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ErrorCode } from "../../src/wire/constants.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { runCommand, waitFor } from "./helpers/process.ts";
import { authConf } from "./helpers/auth_conf.ts";
import { runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { MAIN_TS, startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

const USER = "alice";
const PASSWORD = "correct horse";
const POOL_MAX = 2;

const via = (socket: string) => `test+unix:///default?socket=${socket}`;

/** python-libvirt: open, list the domains, print their names; or the error code and message. */
const PYTHON_LIST = `
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
try:
    c = libvirt.open(sys.argv[1])
    print(",".join(sorted(d.name() for d in c.listAllDomains())))
    c.close()
except libvirt.libvirtError as e:
    print("error", e.get_error_code(), e.get_error_message())
`;

/** 50 python-libvirt connections at once, each listing the domains. */
const PYTHON_FIFTY = `
import sys, threading, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
results = []
def one():
    try:
        c = libvirt.open(sys.argv[1])
        results.append(",".join(d.name() for d in c.listAllDomains()))
        c.close()
    except libvirt.libvirtError as e:
        results.append("error " + e.get_error_message())
threads = [threading.Thread(target=one) for _ in range(50)]
for t in threads: t.start()
for t in threads: t.join()
print(len(results), sorted(set(results)))
`;

/** A client that takes 2.5 s to give its SASL credentials (a person typing), passthrough. */
const PYTHON_SLOW_TYPIST = `
import sys, time, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
def answer(creds, data):
    time.sleep(2.5)
    for cred in creds:
        if cred[0] == libvirt.VIR_CRED_AUTHNAME: cred[4] = "${USER}"
        elif cred[0] == libvirt.VIR_CRED_PASSPHRASE: cred[4] = "${PASSWORD}"
    return 0
auth = [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], answer, None]
try:
    c = libvirt.openAuth(sys.argv[1], auth, 0)
    print(",".join(d.name() for d in c.listAllDomains()))
    c.close()
except libvirt.libvirtError as e:
    print("error", e.get_error_code(), e.get_error_message())
`;

Deno.test({
  name: "virtmux logs in to a SASL libvirtd for shared pools and sasl = proxy upstreams",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const daemon = await startLibvirtd({ tls: true, sasl: { users: { [USER]: PASSWORD } } });
    const dir = await makeTempDir("sasl-proxy");
    let virtmux: Virtmux | undefined;
    let failed = false;
    const step = async (name: string, fn: () => Promise<void>) => {
      if (!(await t.step(name, fn))) failed = true;
    };
    try {
      const good = join(dir, "auth.conf");
      const bad = join(dir, "auth-bad.conf");
      const empty = join(dir, "auth-empty.conf");
      await Deno.writeTextFile(good, authConf(USER, PASSWORD));
      await Deno.writeTextFile(bad, authConf(USER, "wrong"));
      await Deno.writeTextFile(empty, "[credentials-other]\nauthname=x\n");
      const unix = (file: string) => `${daemon.uris.unix}&authfile=${file}`;
      const tcp = (file: string) => `${daemon.uris.tcp}?authfile=${file}`;
      const tls = (file: string) => `${daemon.uris.tls}&authfile=${file}`;
      const s = (name: string) => join(dir, `${name}.sock`);
      const upstreams: [string, string, string][] = [
        ["unix-shared", unix(good), "share = true"],
        ["tcp-shared", tcp(good), `share = true\npool_max = ${POOL_MAX}`],
        ["tls-shared", tls(good), "share = true"],
        ["tcp-dedicated", tcp(good), ""],
        ["unix-dedicated", unix(good), 'sasl = "proxy"'],
        ["tcp-shared-bad", tcp(bad), "share = true"],
        ["tcp-dedicated-bad", tcp(bad), ""],
        ["unix-shared-missing", unix(empty), "share = true"],
        ["unix-passthrough", daemon.uris.unix, ""],
      ];
      virtmux = await startVirtmux(
        `[log]\nlevel = "debug"\n\n[limits]\nshutdown_grace = 1\nopen_timeout = 1\n\n` +
          upstreams.map(([name, uri, extra]) =>
            `[[upstream]]\nname = "${name}"\nuri = "${uri}"\n${extra}\n\n` +
            `[[listen]]\nsocket = "${s(name)}"\nupstream = "${name}"\n`
          ).join("\n"),
        { env: { LIBVIRT_AUTH_FILE: "" } },
      );

      for (
        const name of ["unix-shared", "tcp-shared", "tls-shared", "tcp-dedicated", "unix-dedicated"]
      ) {
        await step(`${name}: virsh list --all needs no credentials and shows test`, async () => {
          const result = await virsh(via(s(name)), ["list", "--all"]);
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
        });
        await step(`${name}: python-libvirt lists the domains`, async () => {
          const result = await runPython(PYTHON_LIST, [via(s(name))]);
          assert.equal(result.stdout.trim(), "test", result.stderr);
        });
      }

      for (const name of ["tcp-shared-bad", "tcp-dedicated-bad"]) {
        await step(`${name}: a wrong password is libvirt's authentication failed`, async () => {
          const result = await runPython(PYTHON_LIST, [via(s(name))]);
          assert.match(
            result.stdout,
            new RegExp(`^error ${ErrorCode.AUTH_FAILED} authentication failed`),
            result.stderr,
          );
          const listed = await virsh(via(s(name)), ["list"]);
          assert.notEqual(listed.code, 0);
          assert.match(listed.stderr, /authentication failed/);
        });
      }

      await step("a missing credential names the auth.conf read, through virsh", async () => {
        const result = await virsh(via(s("unix-shared-missing")), ["list"]);
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, /no "authname" credential for host "localhost"/);
        assert.ok(result.stderr.includes(empty), result.stderr);
      });

      await step(
        `50 python-libvirt clients at once share one SASL pool (pool_max ${POOL_MAX})`,
        async () => {
          const before = await daemon.clientCount();
          const result = await runPython(PYTHON_FIFTY, [via(s("tcp-shared"))], {
            timeoutMs: 60000,
          });
          assert.equal(result.stdout.trim(), "50 ['test']", result.stderr);
          const after = await daemon.clientCount();
          assert.ok(after - before <= POOL_MAX, `daemon clients ${before} -> ${after}`);
        },
      );

      await step(
        "virtmux stdio as virsh's ext command logs in to the tcp daemon itself",
        async () => {
          const info = await runCommand(Deno.execPath(), ["info", "--json"]);
          const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
          const wrapper = join(dir, "virtmux-stdio");
          await Deno.writeTextFile(
            wrapper,
            `#!/bin/sh\nexport DENO_DIR=${quote(JSON.parse(info.stdout).denoDir)}\n` +
              `exec ${quote(Deno.execPath())} run -A ${quote(MAIN_TS)} stdio ${quote(tcp(good))}\n`,
          );
          await Deno.chmod(wrapper, 0o755);
          const result = await virsh(`test+ext:///default?command=${wrapper}`, ["list", "--all"]);
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
        },
      );

      await step("after a daemon restart the shared pools log in again", async () => {
        await daemon.restart();
        for (const name of ["tcp-shared", "unix-shared"]) {
          await waitFor(
            `${name} to serve again`,
            async () => (await virsh(via(s(name)), ["list", "--all"])).code === 0,
            { timeoutMs: 10000, intervalMs: 200 },
          );
        }
        const logins = (await virtmux!.logText()).match(/Upstream SASL login.*DIGEST-MD5/g) ?? [];
        assert.ok(logins.length >= 2, `${logins.length} DIGEST-MD5 logins logged`);
      });

      await step(
        "passthrough: a client typing its password past open_timeout still gets in",
        async () => {
          const result = await runPython(PYTHON_SLOW_TYPIST, [via(s("unix-passthrough"))]);
          assert.equal(result.stdout.trim(), "test", result.stderr);
        },
      );
    } finally {
      if (failed && virtmux) console.log((await virtmux.logText()).slice(-6000));
      await virtmux?.stop();
      await daemon.stop();
      await removeDir(dir);
    }
  },
});
