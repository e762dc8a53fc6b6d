/**
 * A private Kerberos realm for GSSAPI tests: MIT's krb5kdc on a free loopback port with its
 * database, a keytab for the service `libvirt/localhost` and a ticket cache for one user, all in
 * one temp dir, reached through `KRB5_CONFIG` (the machine's /etc/krb5.conf is never read).
 *
 * @module
 */

import { join } from "node:path";
import { freePort } from "./ports.ts";
import { runCommand, type SpawnedProcess, spawnProcess, waitForTcpPort } from "./process.ts";
import { makeTempDir, removeDir } from "./tmp.ts";

/** The realm every test KDC serves. */
export const REALM = "VIRTMUX.TEST";

/** A running private KDC. */
export interface Kdc {
  /** The temp dir holding config, database, keytab and ticket cache. */
  dir: string;
  /** The service keytab, for the daemon (`KRB5_KTNAME`, SASL `keytab:`). */
  keytab: string;
  /** Environment for the daemon: its krb5.conf and keytab. */
  serverEnv: Record<string, string>;
  /** Environment for a client holding the user's ticket: krb5.conf and ticket cache. */
  clientEnv: Record<string, string>;
  /** Environment for a client without any ticket (an empty cache). */
  noTicketEnv: Record<string, string>;
  /** Stops the KDC and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * Creates the realm, the principals `user` (with a password) and `libvirt/localhost` (random key,
 * in the keytab), starts krb5kdc and gets `user` a ticket with kinit.
 *
 * @param user the client principal's name
 * @throws {Error} naming the command that failed, with its output
 */
export async function startKdc(user = "alice"): Promise<Kdc> {
  const dir = await makeTempDir("kdc");
  let kdc: SpawnedProcess | undefined;
  try {
    const port = freePort();
    const krb5Conf = join(dir, "krb5.conf");
    const keytab = join(dir, "libvirt.keytab");
    const ccache = `FILE:${join(dir, "ccache")}`;
    // ignore_acceptor_hostname: libvirtd names itself by the machine's hostname, the clients
    // name it "localhost"; any libvirt/* key in the keytab then accepts.
    await Deno.writeTextFile(
      krb5Conf,
      `[libdefaults]\n default_realm = ${REALM}\n dns_lookup_realm = false\n` +
        ` dns_lookup_kdc = false\n rdns = false\n dns_canonicalize_hostname = false\n` +
        ` ignore_acceptor_hostname = true\n` +
        `[realms]\n ${REALM} = {\n  kdc = 127.0.0.1:${port}\n }\n` +
        `[domain_realm]\n localhost = ${REALM}\n`,
    );
    const kdcConf = join(dir, "kdc.conf");
    await Deno.writeTextFile(
      kdcConf,
      `[kdcdefaults]\n kdc_ports = ${port}\n kdc_tcp_ports = ${port}\n` +
        `[realms]\n ${REALM} = {\n  database_name = ${join(dir, "principal")}\n` +
        `  key_stash_file = ${join(dir, "stash")}\n  acl_file = ${join(dir, "kadm5.acl")}\n }\n` +
        `[logging]\n kdc = FILE:${join(dir, "kdc.log")}\n`,
    );
    const env = { KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf, LC_ALL: "C" };
    const run = async (command: string, args: string[], stdin?: string) => {
      const result = await runCommand(command, args, { env, stdin });
      if (result.code !== 0) {
        throw new Error(
          `Cannot set up the test KDC: ${command} ${args.join(" ")} exited ${result.code}: ` +
            (result.stderr.trim() || result.stdout.trim()),
        );
      }
    };
    await run("kdb5_util", ["create", "-s", "-r", REALM, "-P", crypto.randomUUID()]);
    await run("kadmin.local", ["-r", REALM, "-q", `addprinc -pw ${user}-pw ${user}`]);
    await run("kadmin.local", ["-r", REALM, "-q", "addprinc -randkey libvirt/localhost"]);
    await run("kadmin.local", ["-r", REALM, "-q", `ktadd -k ${keytab} libvirt/localhost`]);
    kdc = spawnProcess("krb5kdc", {
      args: ["-n", "-r", REALM],
      env,
      logFile: join(dir, "krb5kdc.out"),
      name: "krb5kdc",
    });
    await waitForTcpPort(port, { process: kdc, timeoutMs: 10000 });
    await runCommand("kinit", [user], {
      env: { ...env, KRB5CCNAME: ccache },
      stdin: `${user}-pw\n`,
    })
      .then((result) => {
        if (result.code !== 0) {
          throw new Error(`Cannot kinit ${user} at the test KDC: ${result.stderr.trim()}`);
        }
      });
    const process = kdc;
    return {
      dir,
      keytab,
      serverEnv: { KRB5_CONFIG: krb5Conf, KRB5_KTNAME: keytab },
      clientEnv: { KRB5_CONFIG: krb5Conf, KRB5CCNAME: ccache },
      noTicketEnv: { KRB5_CONFIG: krb5Conf, KRB5CCNAME: `FILE:${join(dir, "no-ccache")}` },
      async stop() {
        await process.kill({ signal: "SIGTERM", graceMs: 2000 });
        await removeDir(dir);
      },
    };
  } catch (error) {
    await kdc?.kill({ signal: "SIGKILL", graceMs: 1000 });
    await removeDir(dir);
    throw error;
  }
}
