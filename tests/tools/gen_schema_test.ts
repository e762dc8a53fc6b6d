import assert from "node:assert/strict";
import { join } from "node:path";
import { accessClass, buildSchema, SCHEMA_SOURCES } from "../../tools/gen_schema.ts";

/** The unpacked libvirt 9.0 tree of DESIGN.md §5; LIBVIRT_SRC overrides it. */
function libvirtSourceDir(): { dir: string; found: boolean } {
  const dir = Deno.env.get("LIBVIRT_SRC") ?? "/tmp/libvirt-src/libvirt-9.0.0";
  try {
    return { dir, found: Deno.statSync(join(dir, "src/remote/remote_protocol.x")).isFile };
  } catch {
    return { dir, found: false };
  }
}
const SOURCE = libvirtSourceDir();
/** In CI the source must be there (.ci/run fetches it): a missing tree fails instead of skipping. */
const NEED_SOURCE = SOURCE.found || Deno.env.get("CI") === "true";
const GENERATOR = new URL("../../tools/gen_schema.ts", import.meta.url);
const AUDIT_DIR = new URL("../../src/audit/", import.meta.url);

function requireSource(): string {
  if (!SOURCE.found) {
    throw new Error(
      `Cannot check the generated schema: no libvirt source at "${SOURCE.dir}" (set LIBVIRT_SRC)`,
    );
  }
  return SOURCE.dir;
}

Deno.test({
  name: "gen_schema regenerates src/audit/schema_*.ts byte for byte",
  ignore: !NEED_SOURCE,
  async fn() {
    const dir = requireSource();
    const out = await Deno.makeTempDir();
    try {
      const result = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", GENERATOR.pathname, dir, "--out", out],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(result.success, new TextDecoder().decode(result.stderr));
      const report = new TextDecoder().decode(result.stdout);
      assert.match(report, /REMOTE: 443 procedures/);
      assert.doesNotMatch(report, /body types no procedure uses/);
      for (const source of SCHEMA_SOURCES) {
        const name = `schema_${source.module}.ts`;
        assert.equal(
          await Deno.readTextFile(join(out, name)),
          await Deno.readTextFile(new URL(name, AUDIT_DIR)),
          `${name} differs from what tools/gen_schema.ts makes`,
        );
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "gen_schema finds every procedure's body types the dissector's way",
  ignore: !NEED_SOURCE,
  async fn() {
    const { files } = await buildSchema(requireSource());
    const remote = files.find((file) => file.program?.name === "REMOTE")!.program!;
    assert.deepEqual(remote.procedures[1], [
      "CONNECT_OPEN",
      "remote_connect_open_args",
      null,
      null,
      "read",
    ]);
    assert.deepEqual(remote.procedures[318], [
      "DOMAIN_EVENT_CALLBACK_LIFECYCLE",
      null,
      null,
      "remote_domain_event_callback_lifecycle_msg",
      "read",
    ]);
    assert.deepEqual(remote.procedures[12], [
      "DOMAIN_DESTROY",
      "remote_domain_destroy_args",
      null,
      null,
      "write",
    ]);
    assert.deepEqual(remote.procedures[211], [
      "DOMAIN_SCREENSHOT",
      "remote_domain_screenshot_args",
      "remote_domain_screenshot_ret",
      null,
      "read",
      "read",
    ]);
    assert.equal(remote.procedures[208][5], "write"); // STORAGE_VOL_UPLOAD
  },
});

Deno.test("gen_schema without a source dir prints its usage and exits 2", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", GENERATOR.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 2);
  assert.match(
    new TextDecoder().decode(result.stderr),
    /^Usage: deno run -A tools\/gen_schema\.ts/,
  );
});

Deno.test("accessClass: only observing permissions make a read", () => {
  assert.equal(
    accessClass("REMOTE", "DOMAIN_GET_XML_DESC", [
      "domain:read",
      "domain:read_secure:VIR_DOMAIN_XML_SECURE",
    ]),
    "read",
  );
  assert.equal(
    accessClass("REMOTE", "CONNECT_LIST_ALL_DOMAINS", [
      "connect:search_domains",
      "connect:getattr",
    ]),
    "read",
  );
  assert.equal(accessClass("REMOTE", "AUTH_LIST", ["none"]), "read");
  assert.equal(accessClass("REMOTE", "DOMAIN_DESTROY", ["domain:stop"]), "write");
  // A permission needed only under a flag still makes the call a write.
  assert.equal(accessClass("REMOTE", "X", ["domain:read", "domain:write:SOME_FLAG"]), "write");
  assert.equal(accessClass("REMOTE", "DOMAIN_OPEN_CONSOLE", ["domain:open_device"]), "write");
  assert.equal(accessClass("ADMIN", "SERVER_SET_CLIENT_LIMITS", []), "write");
  assert.equal(accessClass("ADMIN", "CLIENT_CLOSE", []), "write");
  assert.equal(accessClass("ADMIN", "SERVER_UPDATE_TLS_FILES", []), "write");
  assert.equal(accessClass("ADMIN", "SERVER_GET_CLIENT_LIMITS", []), "read");
  assert.equal(accessClass("KEEPALIVE", "PING", []), "read");
});
