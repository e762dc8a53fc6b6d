import assert from "node:assert/strict";
import {
  findAuthFile,
  parseAuthConfig,
  SYSTEM_AUTH_FILE,
} from "../../../src/transport/sasl/auth_conf.ts";
import { parseUri } from "../../../src/uri/uri.ts";

const SAMPLE = `# from libvirt's docs/auth.rst
[credentials-test]
authname=fred
password=123456

[credentials-prod]
authname = bar
password=  let\\sme\\\\in

[auth-libvirt-test1.example.com]
credentials=test

[auth-libvirt-prod1.example.com]
credentials=prod

[auth-libvirt-default]
credentials=test
`;

Deno.test("auth.conf lookups follow the host group, then auth-libvirt-default", () => {
  const config = parseAuthConfig("auth.conf", SAMPLE);
  const rows: [string, "authname" | "password" | "realm", string | undefined][] = [
    ["test1.example.com", "authname", "fred"],
    ["prod1.example.com", "authname", "bar"],
    ["prod1.example.com", "password", "let me\\in"],
    ["other.example.com", "password", "123456"],
    ["test1.example.com", "realm", undefined],
  ];
  for (const [host, name, expected] of rows) {
    assert.equal(config.lookup("libvirt", host, name), expected, `${host} ${name}`);
  }
});

Deno.test("auth.conf without a default group gives nothing for other hosts", () => {
  const config = parseAuthConfig(
    "a.conf",
    "[credentials-x]\nauthname=a\n[auth-libvirt-h]\ncredentials=x\n",
  );
  assert.equal(config.lookup("libvirt", "h", "authname"), "a");
  assert.equal(config.lookup("libvirt", "other", "authname"), undefined);
});

Deno.test("auth.conf errors name the file, as libvirt's do", () => {
  const missing = parseAuthConfig("/x/auth.conf", "[auth-libvirt-default]\ncredentials=nope\n");
  assert.throws(
    () => missing.lookup("libvirt", "h", "authname"),
    /Missing group 'credentials-nope' referenced from group 'auth-libvirt-default' in '\/x\/auth.conf'/,
  );
  const noCredentials = parseAuthConfig("/x/auth.conf", "[auth-libvirt-default]\nfoo=bar\n");
  assert.throws(
    () => noCredentials.lookup("libvirt", "h", "authname"),
    /Missing item 'credentials'/,
  );
  for (const text of ["key=value\n", "[group\n", "[g]\njust words\n"]) {
    assert.throws(
      () => parseAuthConfig("/x/auth.conf", text),
      /Cannot parse "\/x\/auth.conf" line/,
    );
  }
});

Deno.test("the auth.conf is found in libvirt 9.0's order", () => {
  const uri = parseUri("qemu+tcp://h/system?authfile=/uri/auth.conf");
  const plain = parseUri("qemu+tcp://h/system");
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const none = () => false;

  assert.equal(
    findAuthFile(uri, { env: env({ LIBVIRT_AUTH_FILE: "/env/auth.conf" }), readable: none }).path,
    "/env/auth.conf",
  );
  assert.equal(findAuthFile(uri, { env: env({}), readable: none }).path, "/uri/auth.conf");
  assert.equal(
    findAuthFile(plain, {
      env: env({ XDG_CONFIG_HOME: "/xdg" }),
      readable: (p) => p.startsWith("/xdg"),
    })
      .path,
    "/xdg/libvirt/auth.conf",
  );
  assert.equal(
    findAuthFile(plain, { env: env({ HOME: "/home/u" }), readable: (p) => p.startsWith("/home") })
      .path,
    "/home/u/.config/libvirt/auth.conf",
  );
  assert.equal(
    findAuthFile(plain, { env: env({ HOME: "/home/u" }), readable: (p) => p === SYSTEM_AUTH_FILE })
      .path,
    SYSTEM_AUTH_FILE,
  );
  const nothing = findAuthFile(plain, { env: env({ HOME: "/home/u" }), readable: none });
  assert.equal(nothing.path, null);
  assert.deepEqual(nothing.tried, [
    "LIBVIRT_AUTH_FILE (unset)",
    "authfile= (not in the URI)",
    `"/home/u/.config/libvirt/auth.conf" (not readable)`,
    `"${SYSTEM_AUTH_FILE}" (not readable)`,
  ]);
});
