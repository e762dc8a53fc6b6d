/**
 * `route_by_name`: on a shared listener, the name a client opens picks one of the listener's
 * allowed upstreams, which is then opened with its own open name.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses } from "./helpers/process.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

Deno.test("route_by_name: the opened name picks an allowed shared upstream", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("route-by-name");
  let virtmux: Virtmux | undefined;
  try {
    const socket = join(dir, "all.sock");
    virtmux = await startVirtmux(`
[log]
level = "debug"

[[upstream]]
name = "local"
uri = "${libvirtd.uris.unix}"
share = true

[[upstream]]
name = "viatcp"
uri = "${libvirtd.uris.tcp}"
share = true

[[listen]]
socket = "${socket}"
upstream = "local"
route_by_name = true
allow_upstreams = ["viatcp"]
`);
    const via = (name?: string) =>
      `test+unix:///default?socket=${socket}${name === undefined ? "" : `&name=${name}`}`;

    await t.step("an allowed upstream's name reaches that upstream", async () => {
      const result = await virsh(via("viatcp"), ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /test\s+running/);
    });

    await t.step("without a routed name the listener's own upstream serves", async () => {
      const result = await virsh(via(), ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /test\s+running/);
    });

    await t.step(
      "a name that is no allowed upstream is opened on the default upstream",
      async () => {
        const result = await virsh(via("local"), ["list"]);
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, /local/);
      },
    );

    await t.step("the log shows a pool connection per upstream", async () => {
      await virtmux!.stop();
      const log = await virtmux!.logText();
      assert.match(log, /Upstream connection open upstream=viatcp pool=test:\/\/\/default/);
      assert.match(log, /Upstream connection open upstream=local pool=test:\/\/\/default/);
      virtmux = undefined;
    });
  } finally {
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
