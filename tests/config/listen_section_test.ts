import assert from "node:assert/strict";
import { LISTEN_DEFAULTS } from "../../src/config/listen_section.ts";
import { listenersOf } from "../_helpers/config_section.ts";

const read = listenersOf;

const HV1 = '[[upstream]]\nname = "hv1"\nuri = "test:///default"\n';

Deno.test("[[listen]] takes the only upstream there is, and the defaults", () => {
  const { listeners, problems } = read(`${HV1}[[listen]]\nsocket = "/run/a.sock"\n`);
  assert.deepEqual(problems, []);
  assert.deepEqual(listeners, [{ ...LISTEN_DEFAULTS, socket: "/run/a.sock", upstream: "hv1" }]);
});

Deno.test("[[listen]] sockets must be absolute, short enough and unique", () => {
  const long = "/" + "x".repeat(107);
  const { problems } = read(
    HV1 +
      `[[listen]]\nsocket = "run/a.sock"\n[[listen]]\nsocket = "${long}"\n` +
      '[[listen]]\nsocket = "/run/b.sock"\n[[listen]]\nsocket = "/run/b.sock"\n',
  );
  assert.deepEqual(problems, [
    `5:1: "socket" must be an absolute path, got "run/a.sock"`,
    `7:1: "socket" path is 108 bytes long; unix socket paths hold at most 107 bytes`,
    `11:1: duplicate socket "/run/b.sock" (first used at line 9)`,
  ]);
});

Deno.test("[[listen]] mode, programs and procedures are checked item by item", () => {
  const { listeners, problems } = read(
    HV1 +
      '[[listen]]\nsocket = "/run/a.sock"\nmode = 660\nprograms = ["remote", "kvm"]\n' +
      'deny_procedures = ["DOMAIN_DESTROY", "NO_SUCH_PROC"]\nallow_uids = [0, "root"]\n',
  );
  assert.deepEqual(listeners[0].allowUids, [0, 0]);
  assert.deepEqual(listeners[0].mode, LISTEN_DEFAULTS.mode);
  assert.deepEqual(problems, [
    `6:1: "mode" must be a string of octal digits such as "0660", got integer 660 ` +
    `(quote it: a TOML number is not read as octal)`,
    `7:23: unknown program "kvm" in "programs": use "remote", "qemu", "lxc", "admin"`,
    `8:38: unknown procedure "NO_SUCH_PROC" in "deny_procedures": use libvirt's names, e.g. ` +
    `"DOMAIN_DESTROY", "REMOTE_PROC_DOMAIN_DESTROY" or "virDomainDestroy"`,
  ]);
});
