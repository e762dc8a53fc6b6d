import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALL_PROGRAM_LIST,
  ALL_PROGRAMS,
  AuthType,
  HEADER_BYTES,
  isReadOnlyOpen,
  KeepaliveProc,
  MAX_FRAME_BYTES,
  OFFSET,
  Program,
  PROGRAM_NAMES,
  programIndex,
  programName,
  RemoteProc,
} from "../../src/wire/constants.ts";
import { resolveProcedureName } from "../../src/wire/procedure_names.ts";

/** The unpacked libvirt 9.0 tree of DESIGN.md §5; LIBVIRT_SRC overrides it. */
function libvirtSourceDir(): string | undefined {
  const dir = Deno.env.get("LIBVIRT_SRC") ?? "/tmp/libvirt-src/libvirt-9.0.0";
  try {
    return Deno.statSync(join(dir, "src/remote/remote_protocol.x")).isFile ? dir : undefined;
  } catch {
    return undefined;
  }
}
const SOURCE_DIR = libvirtSourceDir();

Deno.test("every RemoteProc number is the one libvirt 9.0's procedure table gives its name", () => {
  for (const [name, procedure] of Object.entries(RemoteProc)) {
    assert.deepEqual(resolveProcedureName(name), { program: Program.REMOTE, procedure }, name);
  }
});

Deno.test({
  name: "program numbers and auth types are those of libvirt 9.0's .x files",
  ignore: SOURCE_DIR === undefined,
  async fn() {
    const files: Array<[string, string, number]> = [
      ["src/remote/remote_protocol.x", "REMOTE_PROGRAM", Program.REMOTE],
      ["src/remote/qemu_protocol.x", "QEMU_PROGRAM", Program.QEMU],
      ["src/remote/lxc_protocol.x", "LXC_PROGRAM", Program.LXC],
      ["src/rpc/virkeepaliveprotocol.x", "KEEPALIVE_PROGRAM", Program.KEEPALIVE],
      ["src/admin/admin_protocol.x", "ADMIN_PROGRAM", Program.ADMIN],
    ];
    for (const [file, name, value] of files) {
      const text = await Deno.readTextFile(join(SOURCE_DIR!, file));
      const match = new RegExp(`const ${name} = (0x[0-9a-f]+);`).exec(text);
      assert.ok(match !== null, `${name} in ${file}`);
      assert.equal(Number(match[1]), value, name);
    }
    const remote = await Deno.readTextFile(join(SOURCE_DIR!, "src/remote/remote_protocol.x"));
    for (const [name, value] of Object.entries(AuthType)) {
      assert.match(remote, new RegExp(`REMOTE_AUTH_${name} = ${value}\\b`), name);
    }
    const keepalive = await Deno.readTextFile(join(SOURCE_DIR!, "src/rpc/virkeepaliveprotocol.x"));
    for (const [name, value] of Object.entries(KeepaliveProc)) {
      assert.match(keepalive, new RegExp(`KEEPALIVE_PROC_${name} = ${value}\\b`), name);
    }
  },
});

Deno.test("the config's program names and the all-programs set agree with Program", () => {
  assert.deepEqual(Object.keys(PROGRAM_NAMES), ["remote", "qemu", "lxc", "admin"]);
  for (const value of Object.values(PROGRAM_NAMES)) assert.ok(ALL_PROGRAMS.has(value));
  assert.deepEqual(ALL_PROGRAMS, new Set(Object.values(Program)));
  assert.ok(!Object.values(PROGRAM_NAMES).includes(Program.KEEPALIVE), "keepalive is implied");
});

Deno.test("the header is seven words and a frame holds at most 32 MiB + 4 bytes", () => {
  assert.equal(HEADER_BYTES, 28);
  assert.deepEqual(Object.values(OFFSET), [4, 8, 12, 16, 20, 24], "after the length word");
  assert.equal(MAX_FRAME_BYTES, 32 * 1024 * 1024 + 4);
});

Deno.test("read-only opens are those with VIR_CONNECT_RO, whatever else is set", () => {
  assert.deepEqual([0, 1, 2, 3, 0xffffffff].map(isReadOnlyOpen), [false, true, false, true, true]);
});

Deno.test("programName names known programs and writes others as 8 hex digits", () => {
  assert.equal(programName(Program.REMOTE), "REMOTE");
  assert.equal(programName(Program.KEEPALIVE), "KEEPALIVE");
  assert.equal(programName(0x1234), "0x00001234");
  assert.equal(programName(-1), "0xffffffff");
});

Deno.test("programIndex follows ALL_PROGRAM_LIST", () => {
  ALL_PROGRAM_LIST.forEach((program, i) => assert.equal(programIndex(program), i));
  assert.equal(programIndex(0x12345678), -1);
});
