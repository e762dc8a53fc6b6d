import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/load.ts";
import { LIBVIRTD_FILES } from "../../src/config/network_listener.ts";

const UPSTREAMS = '[[upstream]]\nname = "hv1"\nuri = "qemu+tls://hv1.example.com/system"\n' +
  "share = true\n" +
  '[[upstream]]\nname = "hv7"\nuri = "qemu+tls://hv7.example.com/system"\nshare = true\n';

/** The `message` of the ConfigError that parsing `text` as "v.toml" throws. */
function errorOf(text: string): string {
  try {
    parseConfig(text, "v.toml");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("network_listener: a TLS front with every key", () => {
  const config = parseConfig(
    UPSTREAMS + `[[listen]]
tls = "[::]:16600"
upstream = "hv1"
route_by_name = true
allow_upstreams = ["hv7"]
key_file = "/k.pem"
cert_file = "/c.pem"
ca_file = "/ca.pem"
crl_file = "/crl.pem"
tls_allowed_dn_list = ["O=Example,CN=*"]
tls_no_verify_certificate = false
allow_dns = { hv7 = ["O=Example,CN=ops-*"] }
`,
    "v.toml",
  );
  const [listener] = config.listeners;
  assert.equal(listener.socket, "");
  assert.deepEqual(listener.front, {
    kind: "tls",
    hostname: "::",
    port: 16600,
    label: "tls://[::]:16600",
    tls: {
      keyFile: "/k.pem",
      certFile: "/c.pem",
      caFile: "/ca.pem",
      crlFile: "/crl.pem",
      allowedDns: ["O=Example,CN=*"],
      noVerifyCertificate: false,
    },
    allowDns: { hv7: ["O=Example,CN=ops-*"] },
  });
});

Deno.test("network_listener: libvirtd's defaults, and tcp on 16509", () => {
  const config = parseConfig(
    UPSTREAMS + '[[listen]]\ntls = "0.0.0.0"\nupstream = "hv1"\n' +
      '[[listen]]\ntcp = "bastion.example.com"\nupstream = "hv1"\n',
    "v.toml",
  );
  const [tls, tcp] = config.listeners.map((l) => l.front!);
  assert.equal(tls.port, 16514);
  assert.equal(tls.tls!.keyFile, LIBVIRTD_FILES.keyFile);
  assert.equal(tls.tls!.certFile, LIBVIRTD_FILES.certFile);
  assert.equal(tls.tls!.caFile, LIBVIRTD_FILES.caFile);
  assert.equal(tls.tls!.allowedDns, undefined);
  assert.deepEqual(tcp, {
    kind: "tcp",
    hostname: "bastion.example.com",
    port: 16509,
    label: "tcp://bastion.example.com:16509",
    allowDns: {},
  });
});

Deno.test("network_listener: mistakes are reported at their keys", () => {
  const listen = (body: string) => UPSTREAMS + "[[listen]]\n" + body;
  const rows: [string, string, string][] = [
    [
      "socket and tls",
      listen('socket = "/a"\ntls = "0.0.0.0"\nupstream = "hv1"\n'),
      'v.toml:11:1: a [[listen]] takes exactly one of "socket", "tls" or "tcp", got "socket" and "tls"',
    ],
    [
      "tls and tcp",
      listen('tls = "0.0.0.0"\ntcp = "0.0.0.0"\nupstream = "hv1"\n'),
      'v.toml:11:1: a [[listen]] takes exactly one of "socket", "tls" or "tcp", got "tls" and "tcp"',
    ],
    [
      "none of them: the old message",
      listen('upstream = "hv1"\n'),
      'v.toml:9:1: missing required key "socket" in [[listen]]',
    ],
    [
      "a bare IPv6 address",
      listen('tls = "::1:16514"\nupstream = "hv1"\n'),
      'v.toml:10:1: "tls": invalid listen address "::1:16514": write an IPv6 address in ' +
      'brackets, e.g. "[::1]:16514"',
    ],
    [
      "TLS keys on a socket",
      listen('socket = "/a"\nupstream = "hv1"\nkey_file = "/k.pem"\n'),
      'v.toml:12:1: "key_file" applies only to a [[listen]] with "tls"',
    ],
    [
      "TLS keys on tcp",
      listen('tcp = "0.0.0.0"\nupstream = "hv1"\ntls_allowed_dn_list = ["*"]\n'),
      'v.toml:12:1: "tls_allowed_dn_list" applies only to a [[listen]] with "tls", not to one ' +
      'with "tcp"',
    ],
    [
      "socket keys on a front",
      listen('tls = "0.0.0.0"\nupstream = "hv1"\nmode = "0600"\n'),
      'v.toml:12:1: "mode" applies only to a [[listen]] with "socket", not to one with "tls"',
    ],
    [
      "relative file",
      listen('tls = "0.0.0.0"\nupstream = "hv1"\nca_file = "ca.pem"\n'),
      'v.toml:12:1: "ca_file" must be an absolute path, got "ca.pem"',
    ],
    [
      "empty DN list",
      listen('tls = "0.0.0.0"\nupstream = "hv1"\ntls_allowed_dn_list = []\n'),
      'v.toml:12:1: "tls_allowed_dn_list" is empty and would refuse every client; leave it out ' +
      "to admit every certificate the CA signed",
    ],
    [
      "allow_dns naming an upstream the listener cannot reach",
      listen('tls = "0.0.0.0"\nupstream = "hv1"\nallow_dns = { hv7 = ["*"] }\n'),
      'v.toml:12:15: "allow_dns" names "hv7", which is neither this listener\'s upstream nor ' +
      'in its allow_upstreams ("hv1")',
    ],
    [
      "allow_dns not a table",
      listen('tls = "0.0.0.0"\nupstream = "hv1"\nallow_dns = ["*"]\n'),
      'v.toml:12:1: "allow_dns" must be a table of upstream names to DN wildcards, e.g. ' +
      '{ hv7 = ["O=Example,CN=ops-*"] }, got an array',
    ],
    [
      "duplicate address",
      listen('tls = "127.0.0.1:1"\nupstream = "hv1"\n') +
      '[[listen]]\ntcp = "127.0.0.1:1"\nupstream = "hv1"\n',
      'v.toml:13:1: duplicate listen address "127.0.0.1:1" (first used at line 10)',
    ],
  ];
  for (const [why, text, expected] of rows) assert.equal(errorOf(text), expected, why);
});
