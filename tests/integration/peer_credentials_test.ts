/**
 * `allow_uids` / `allow_gids` end to end: real virsh run as root and as nobody (through
 * `setpriv`, with and without a supplementary group) against listeners whose socket mode lets
 * everyone connect, so the credentials check alone decides. Needs root to change user.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, runCommand } from "./helpers/process.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux } from "./helpers/virtmux.ts";

const NOBODY = 65534;
/** A group no account has: only `setpriv --groups` gives it. */
const EXTRA_GID = 4242;

/** Runs virsh as nobody (uid and gid 65534) with `groups` as supplementary groups. */
async function virshAsNobody(uri: string, args: string[], groups: number[]) {
  const home = await makeTempDir("nobody-home");
  try {
    await Deno.chmod(home, 0o777);
    return await runCommand("setpriv", [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      groups.length > 0 ? `--groups=${groups.join(",")}` : "--clear-groups",
      "virsh",
      "-c",
      uri,
      ...args,
    ], {
      env: { LC_ALL: "C", HOME: home, XDG_RUNTIME_DIR: home, XDG_CACHE_HOME: home },
      timeoutMs: 30000,
    });
  } finally {
    await removeDir(home);
  }
}

Deno.test({
  name: "allow_uids and allow_gids decide who gets through a socket anyone may open",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    const libvirtd = await startLibvirtd();
    const dir = await makeTempDir("peers");
    await Deno.chmod(dir, 0o755);
    const s = (name: string) => join(dir, `${name}.sock`);
    const via = (name: string) => `test+unix:///default?socket=${s(name)}`;
    try {
      const virtmux = await startVirtmux(`
[[upstream]]
name = "ded"
uri = "${libvirtd.uris.unix}"

[[upstream]]
name = "shr"
uri = "${libvirtd.uris.unix}"
share = true

[[listen]]
socket = "${s("root-only")}"
upstream = "ded"
mode = "0666"
allow_uids = ["root"]

[[listen]]
socket = "${s("group")}"
upstream = "shr"
mode = "0666"
allow_gids = [${EXTRA_GID}]

[[listen]]
socket = "${s("open")}"
upstream = "ded"
mode = "0666"
`);
      try {
        await t.step("root is in allow_uids: virsh works", async () => {
          const result = await virsh(via("root-only"), ["list", "--all"]);
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /\btest\b/);
        });

        await t.step("nobody is not: virsh prints virtmux's refusal", async () => {
          const result = await virshAsNobody(via("root-only"), ["list", "--all"], []);
          assert.notEqual(result.code, 0);
          assert.match(
            result.stderr,
            new RegExp(
              `virtmux does not allow uid ${NOBODY} \\(gid ${NOBODY}\\) on ` +
                `"${s("root-only")}": not in the listener's allow_uids/allow_gids`,
            ),
            result.stderr,
          );
          assert.match(
            await virtmux.logText(),
            new RegExp(`Client refused: credentials not allowed.*uid=${NOBODY}`),
          );
        });

        await t.step(
          "a supplementary group in allow_gids lets nobody in (shared pool)",
          async () => {
            const member = await virshAsNobody(via("group"), ["list", "--all"], [EXTRA_GID]);
            assert.equal(member.code, 0, member.stderr);
            assert.match(member.stdout, /\btest\b/);
            const outsider = await virshAsNobody(via("group"), ["list", "--all"], []);
            assert.notEqual(outsider.code, 0);
            assert.match(outsider.stderr, /virtmux does not allow uid 65534/);
          },
        );

        await t.step("a listener without the lists lets the socket mode decide", async () => {
          const result = await virshAsNobody(via("open"), ["list", "--all"], []);
          assert.equal(result.code, 0, result.stderr);
        });
      } finally {
        await virtmux.stop();
      }
    } finally {
      await libvirtd.stop();
      await removeDir(dir);
    }
    await assertNoLeftoverProcesses();
  },
});
