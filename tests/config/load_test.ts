import assert from "node:assert/strict";
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  findConfigPath,
  formatProblem,
  loadConfig,
  parseConfig,
} from "../../src/config/load.ts";
import { DEFAULTS } from "../../src/config/schema.ts";
import { parseUri, UriError } from "../../src/uri/uri.ts";

const UPSTREAM = '[[upstream]]\nname = "hv1"\nuri = "qemu+tls://hv1.example.com/system"\n';

/** The uri module's reason for refusing `text`, lower-cased as config messages are. */
function uriMessage(text: string): string {
  try {
    parseUri(text);
  } catch (error) {
    assert.ok(error instanceof UriError);
    assert.match(error.message, /^Cannot parse URI "/);
    return "c" + error.message.slice(1);
  }
  assert.fail(`expected "${text}" to be refused`);
}

/** The `message` of the ConfigError that parsing `text` as "v.toml" throws. */
function errorOf(text: string): string {
  try {
    parseConfig(text, "v.toml");
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("parseConfig() reads a full config", () => {
  const config = parseConfig(
    `
[log]
level = "debug"
format = "json"

[limits]
max_message_bytes = 1048580
max_clients = 100
max_inflight_per_client = 8
connect_timeout = 2.5
shutdown_grace = 0
open_timeout = 5
frame_timeout = 7.5
idle_timeout = 600

[[upstream]]
name = "hv1"
uri = "qemu+tls://hv1.example.com/system"
share = true
pool_max = 2
max_pools = 8
max_inflight_per_connection = 3
idle_timeout = 60
keepalive_interval = 2
keepalive_count = 3
max_message_bytes = 262148

[[upstream]]
name = "hv-2.lab_b"
uri = "test+tcp://127.0.0.1:16509/default"

[[listen]]
socket = "/run/virtmux/hv1.sock"
mode = "0600"
group = "libvirt"
readonly = true
upstream = "hv1"
route_by_name = false
allow_upstreams = ["hv-2.lab_b"]
deny_procedures = ["DOMAIN_UNDEFINE", "DOMAIN_DESTROY"]
allow_procedures = ["virConnectListAllDomains"]
programs = ["remote", "admin"]
allow_uids = [0, "root", 1000]
allow_gids = ["root"]
max_message_bytes = 300000
max_clients = 10

[audit]
enabled = false
path = "/tmp/audit.jsonl"

[metrics]
listen = ""
`,
    "full.toml",
  );
  assert.equal(config.file, "full.toml");
  assert.deepEqual(config.log, { level: "debug", format: "json" });
  assert.deepEqual(config.limits, {
    maxMessageBytes: 1048580,
    maxClients: 100,
    maxInflightPerClient: 8,
    connectTimeoutMs: 2500,
    shutdownGraceMs: 0,
    openTimeoutMs: 5000,
    frameTimeoutMs: 7500,
    idleTimeoutMs: 600000,
    maxBufferedBytes: 268435456,
    minFrameRate: 1048576,
  });
  assert.equal(config.upstreams.length, 2);
  const [hv1, hv2] = config.upstreams;
  assert.equal(hv1.name, "hv1");
  assert.equal(hv1.uriText, "qemu+tls://hv1.example.com/system");
  assert.equal(hv1.uri.transport, "tls");
  assert.equal(hv1.uri.host, "hv1.example.com");
  assert.equal(hv1.share, true);
  assert.equal(hv1.poolMax, 2);
  assert.equal(hv1.maxPools, 8);
  assert.equal(hv1.maxInflightPerConnection, 3);
  assert.equal(hv1.idleTimeoutMs, 60000);
  assert.equal(hv1.keepaliveIntervalMs, 2000);
  assert.equal(hv1.keepaliveCount, 3);
  assert.equal(hv1.maxMessageBytes, 262148);
  assert.equal(hv2.name, "hv-2.lab_b");
  assert.equal(hv2.uri.transport, "tcp");
  assert.deepEqual(config.listeners, [{
    socket: "/run/virtmux/hv1.sock",
    mode: 0o600,
    group: "libvirt",
    readonly: true,
    upstream: "hv1",
    routeByName: false,
    allowUpstreams: ["hv-2.lab_b"],
    denyProcedures: ["DOMAIN_UNDEFINE", "DOMAIN_DESTROY"],
    allowProcedures: ["virConnectListAllDomains"],
    programs: ["remote", "admin"],
    allowUids: [0, 0, 1000],
    allowGids: [0],
    keepaliveIntervalMs: 5000,
    keepaliveCount: 5,
    maxMessageBytes: 300000,
    maxClients: 10,
  }]);
  assert.deepEqual(config.audit, { ...DEFAULTS.audit, path: "/tmp/audit.jsonl" });
  assert.deepEqual(config.metrics, { listen: "" });
});

Deno.test("parseConfig() fills in every default", () => {
  const config = parseConfig(UPSTREAM + '[[listen]]\nsocket = "/tmp/a.sock"\n', "min.toml");
  assert.deepEqual(config.log, { level: "info", format: "text" });
  assert.deepEqual(config.limits, {
    maxMessageBytes: 33554436,
    maxClients: 4096,
    maxInflightPerClient: 32,
    connectTimeoutMs: 10000,
    shutdownGraceMs: 5000,
    openTimeoutMs: 30000,
    frameTimeoutMs: 30000,
    idleTimeoutMs: 0,
    maxBufferedBytes: 268435456,
    minFrameRate: 1048576,
  });
  const [upstream] = config.upstreams;
  assert.equal(upstream.share, false);
  assert.equal(upstream.poolMax, 4);
  assert.equal(upstream.maxPools, 16);
  assert.equal(upstream.maxInflightPerConnection, 5);
  assert.equal(upstream.idleTimeoutMs, 300000);
  assert.equal(upstream.keepaliveIntervalMs, 5000);
  assert.equal(upstream.keepaliveCount, 5);
  assert.equal("maxMessageBytes" in upstream, false);
  assert.deepEqual(config.listeners, [{
    socket: "/tmp/a.sock",
    mode: 0o660,
    readonly: false,
    upstream: "hv1",
    routeByName: false,
    allowUpstreams: [],
    denyProcedures: [],
    allowProcedures: [],
    programs: ["remote", "qemu", "lxc"],
    allowUids: [],
    allowGids: [],
    keepaliveIntervalMs: 5000,
    keepaliveCount: 5,
  }]);
  assert.deepEqual(config.audit, DEFAULTS.audit);
  assert.deepEqual(config.metrics, { listen: "" });
  assert.deepEqual(config.limits, DEFAULTS.limits);
});

Deno.test("parseConfig() accepts an empty file", () => {
  const config = parseConfig("", "empty.toml");
  assert.deepEqual(config.upstreams, []);
  assert.deepEqual(config.listeners, []);
});

Deno.test("parseConfig() accepts inline tables and arrays of them", () => {
  const config = parseConfig(
    'upstream = [{ name = "a", uri = "test:///default" }]\n' +
      'listen = [{ socket = "/tmp/a.sock", mode = "0666" }]\nlog = { level = "error" }\n',
    "inline.toml",
  );
  assert.equal(config.listeners[0].upstream, "a");
  assert.equal(config.listeners[0].mode, 0o666);
  assert.equal(config.log.level, "error");
});

Deno.test("parseConfig() reads integer seconds and accepts a mode without the leading zero", () => {
  const config = parseConfig(
    UPSTREAM + '[limits]\nconnect_timeout = 1\n[[listen]]\nsocket = "/a"\nmode = "600"\n',
    "v.toml",
  );
  assert.equal(config.limits.connectTimeoutMs, 1000);
  assert.equal(config.listeners[0].mode, 0o600);
});

/** One mistake per row: [why, TOML text, the exact error message]. */
const MISTAKES: [string, string, string][] = [
  [
    "TOML syntax, at smol-toml's position",
    "[log]\nlevel = \n",
    "v.toml:2:9: invalid TOML: invalid value",
  ],
  [
    "TOML syntax: a key defined twice",
    "[log]\nlevel = 'info'\nlevel = 'debug'\n",
    "v.toml:3:1: invalid TOML: trying to redefine an already defined table or value",
  ],
  [
    "unknown key, with a suggestion",
    "[limits]\nmax_client = 10\n",
    'v.toml:2:1: unknown key "max_client" in [limits]; did you mean "max_clients"?',
  ],
  [
    "unknown key written in camelCase",
    UPSTREAM + "poolMax = 3\n",
    'v.toml:4:1: unknown key "poolMax" in [[upstream]]; did you mean "pool_max"?',
  ],
  [
    "unknown key, nothing close",
    "[log]\ncolour = true\n",
    'v.toml:2:1: unknown key "colour" in [log]',
  ],
  [
    "unknown top-level key",
    "verbose = true\n",
    'v.toml:1:1: unknown key "verbose" at the top level',
  ],
  [
    "unknown table",
    "[limit]\nmax_clients = 1\n",
    "v.toml:1:1: unknown table [limit]; did you mean [limits]?",
  ],
  [
    "unknown array of tables",
    "[[listener]]\nsocket = '/a'\n",
    "v.toml:1:1: unknown table [[listener]]; did you mean [[listen]]?",
  ],
  [
    "a single table where an array of tables belongs",
    "[upstream]\nname = 'a'\n",
    'v.toml:1:1: "upstream" must be an array of tables, written [[upstream]], got a table',
  ],
  [
    "a section that is not a table",
    'log = "debug"\n',
    'v.toml:1:1: "log" must be a table, got string "debug"',
  ],
  [
    "wrong type: string for a boolean",
    UPSTREAM + 'share = "yes"\n',
    'v.toml:4:1: "share" must be a boolean, got string "yes"',
  ],
  [
    "wrong type: float for an integer",
    "[limits]\nmax_clients = 10.0\n",
    'v.toml:2:1: "max_clients" must be an integer, got float 10.0',
  ],
  [
    "wrong type: integer for a string",
    UPSTREAM + "[[listen]]\nsocket = 5\n",
    'v.toml:5:1: "socket" must be a string, got integer 5',
  ],
  [
    "wrong type: string for seconds",
    "[limits]\nconnect_timeout = '10s'\n",
    'v.toml:2:1: "connect_timeout" must be a number of seconds, got string "10s"',
  ],
  [
    "wrong type: array item",
    UPSTREAM + '[[listen]]\nsocket = "/a"\ndeny_procedures = ["DOMAIN_DESTROY", 12]\n',
    'v.toml:6:38: each item of "deny_procedures" must be a string, got integer 12',
  ],
  [
    "unknown procedure name",
    UPSTREAM +
    '[[listen]]\nsocket = "/a"\ndeny_procedures = ["DOMAIN_DESTROY", "DOMAIN_EXPLODE"]\n',
    'v.toml:6:38: unknown procedure "DOMAIN_EXPLODE" in "deny_procedures": use libvirt\'s ' +
    'names, e.g. "DOMAIN_DESTROY", "REMOTE_PROC_DOMAIN_DESTROY" or "virDomainDestroy"',
  ],
  [
    "unknown user and group names",
    UPSTREAM +
    '[[listen]]\nsocket = "/a"\nallow_uids = ["root", "no-such-user-virtmux"]\n' +
    'allow_gids = [-1, "no-such-group-virtmux"]\n',
    'v.toml:6:23: unknown user "no-such-user-virtmux" in "allow_uids": not in /etc/passwd\n' +
    'v.toml:7:15: each item of "allow_gids" must be a group name or an id from 0 to ' +
    "4294967294, got integer -1\n" +
    'v.toml:7:19: unknown group "no-such-group-virtmux" in "allow_gids": not in /etc/group',
  ],
  [
    "wrong type: allow_uids as one id",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nallow_uids = 1000\n',
    'v.toml:6:1: "allow_uids" must be an array of user names or ids, got integer 1000',
  ],
  [
    "unknown program name",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nprograms = ["remote", "vbox"]\n',
    'v.toml:6:23: unknown program "vbox" in "programs": use "remote", "qemu", "lxc", "admin"',
  ],
  [
    "routing by name without upstreams to route to, on a dedicated upstream",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nroute_by_name = true\n',
    'v.toml:6:1: "route_by_name" needs "allow_upstreams": the upstreams a client may pick by ' +
    'name\nv.toml:6:1: "route_by_name" needs share = true on upstream "hv1": only a shared pool ' +
    "answers the handshake itself and so learns the name before connecting",
  ],
  [
    "wrong type: a string for an array",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nallow_upstreams = "hv1"\n',
    'v.toml:6:1: "allow_upstreams" must be an array of strings, got string "hv1"',
  ],
  [
    "log level not in the list",
    "[log]\nlevel = 'warn'\n",
    'v.toml:2:1: "level" must be one of "debug", "info", "warning", "error", got "warn"; ' +
    'did you mean "warning"?',
  ],
  [
    "message size below the smallest useful limit",
    "[limits]\nmax_message_bytes = 28\n",
    'v.toml:2:1: "max_message_bytes" must be between 262148 (256 KiB + 4, the oldest daemons\' ' +
    "limit and a full stream chunk) and 33554436 (32 MiB + 4, libvirt's own limit), got 28",
  ],
  [
    "message size beyond libvirt's, on an upstream",
    UPSTREAM + "max_message_bytes = 99999999999999999999\n",
    'v.toml:4:1: "max_message_bytes" must be between 262148 (256 KiB + 4, the oldest daemons\' ' +
    "limit and a full stream chunk) and 33554436 (32 MiB + 4, libvirt's own limit), " +
    "got 99999999999999999999",
  ],
  [
    "zero clients",
    "[limits]\nmax_clients = 0\n",
    'v.toml:2:1: "max_clients" must be between 1 and 1048576, got 0',
  ],
  [
    "zero pool",
    UPSTREAM + "pool_max = 0\n",
    'v.toml:4:1: "pool_max" must be between 1 and 1024, got 0',
  ],
  [
    "zero connect timeout",
    "[limits]\nconnect_timeout = 0\n",
    'v.toml:2:1: "connect_timeout" must be between 0.001 and 3600 seconds, got integer 0',
  ],
  [
    "negative shutdown grace",
    "[limits]\nshutdown_grace = -1.5\n",
    'v.toml:2:1: "shutdown_grace" must be between 0 and 3600 seconds, got float -1.5',
  ],
  [
    "missing required key, at the table header",
    '\n[[upstream]]\nname = "hv1"\n',
    'v.toml:2:1: missing required key "uri" in [[upstream]]',
  ],
  [
    "empty required string",
    '[[upstream]]\nname = ""\nuri = "test:///default"\n',
    'v.toml:2:1: "name" must not be empty',
  ],
  [
    "bad upstream name",
    '[[upstream]]\nname = "hv 1"\nuri = "test:///default"\n',
    'v.toml:2:1: upstream name "hv 1" may hold only letters, digits, "_", "." and "-"',
  ],
  [
    "duplicate upstream name",
    UPSTREAM + UPSTREAM,
    'v.toml:5:1: duplicate upstream name "hv1" (first defined at line 2)',
  ],
  [
    "bad URI, at the uri key",
    '[[upstream]]\nname = "hv1"\n  uri = "qemu+carrier-pigeon://hv1/system"\n',
    `v.toml:3:3: ${uriMessage("qemu+carrier-pigeon://hv1/system")}`,
  ],
  [
    "listener naming an unknown upstream, with a suggestion",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nupstream = "hv2"\n',
    'v.toml:6:1: unknown upstream "hv2"; did you mean "hv1"?',
  ],
  [
    "listener allowing an unknown upstream, at the item",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nallow_upstreams = ["hv1", "elsewhere"]\n',
    'v.toml:6:27: unknown upstream "elsewhere"; defined upstreams: "hv1"',
  ],
  [
    "listener naming an upstream when none is defined",
    '[[listen]]\nsocket = "/a"\nupstream = "hv1"\n',
    'v.toml:3:1: unknown upstream "hv1": no [[upstream]] is defined',
  ],
  [
    "listener without upstream when there are two",
    UPSTREAM + '[[upstream]]\nname = "hv2"\nuri = "test:///default"\n' +
    '[[listen]]\nsocket = "/a"\n',
    'v.toml:7:1: missing required key "upstream" in [[listen]]: there are 2 upstreams ' +
    '("hv1", "hv2")',
  ],
  [
    "listener without upstream when there is none",
    '[[listen]]\nsocket = "/a"\n',
    'v.toml:1:1: missing required key "upstream" in [[listen]], and no [[upstream]] is defined',
  ],
  [
    "relative socket path",
    UPSTREAM + '[[listen]]\nsocket = "run/a.sock"\n',
    'v.toml:5:1: "socket" must be an absolute path, got "run/a.sock"',
  ],
  [
    "socket path too long for sun_path",
    UPSTREAM + `[[listen]]\nsocket = "/${"x".repeat(107)}"\n`,
    'v.toml:5:1: "socket" path is 108 bytes long; unix socket paths hold at most 107 bytes',
  ],
  [
    "duplicate socket",
    UPSTREAM + '[[listen]]\nsocket = "/a"\n[[listen]]\nsocket = "/a"\n',
    'v.toml:7:1: duplicate socket "/a" (first used at line 5)',
  ],
  [
    "mode as a TOML number",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nmode = 0o660\n',
    'v.toml:6:1: "mode" must be a string of octal digits such as "0660", got integer 432 ' +
    "(quote it: a TOML number is not read as octal)",
  ],
  [
    "mode with non-octal digits",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nmode = "0690"\n',
    'v.toml:6:1: "mode" must be octal digits such as "0660", got "0690"',
  ],
  [
    "mode beyond 0777",
    UPSTREAM + '[[listen]]\nsocket = "/a"\nmode = "4755"\n',
    'v.toml:6:1: "mode" must be at most "0777" (no setuid, setgid or sticky bits), got "4755"',
  ],
  [
    "empty group",
    UPSTREAM + '[[listen]]\nsocket = "/a"\ngroup = ""\n',
    'v.toml:6:1: "group" must not be empty',
  ],
  [
    "audit rule without a level",
    '[audit]\nenabled = true\n[[audit.rule]]\nclass = "read"\n',
    'v.toml:3:1: missing required key "level" in [[audit.rule]]',
  ],
  [
    "audit rule with a procedure glob that matches nothing",
    '[audit]\n[[audit.rule]]\nprocedures = ["DOMAN_*"]\nlevel = "none"\n',
    'v.toml:3:15: "DOMAN_*" in "procedures" matches no procedure: use libvirt\'s names or ' +
    'globs, e.g. "DOMAIN_DESTROY", "DOMAIN_*", "QEMU_PROC_*" or "virDomainDestroy"',
  ],
  [
    "metrics address without a port",
    '[metrics]\nlisten = "127.0.0.1"\n',
    'v.toml:2:1: "127.0.0.1" is not an address to listen on: expected HOST:PORT, e.g. "127.0.0.1:9477"',
  ],
  [
    "dotted key at the top level, at the offending segment",
    "limits.max_client = 1\n",
    'v.toml:1:8: unknown key "max_client" in [limits]; did you mean "max_clients"?',
  ],
  [
    "inline table key",
    'upstream = [{ name = "a", uri = "test:///default", shared = true }]\n',
    'v.toml:1:52: unknown key "shared" in [[upstream]]; did you mean "share"?',
  ],
];

for (const [why, text, expected] of MISTAKES) {
  Deno.test(`parseConfig() reports ${why}`, () => {
    assert.equal(errorOf(text), expected);
  });
}

Deno.test("parseConfig() reports every problem at once, in file order", () => {
  const text = `[[listen]]
socket = "relative.sock"
mode = "999"
upstream = "nowhere"

[limits]
max_clients = -1

[[upstream]]
name = "hv1"
uri = "not a uri"
share = "yes"
`;
  let error: ConfigError | undefined;
  try {
    parseConfig(text, "many.toml");
  } catch (caught) {
    if (caught instanceof ConfigError) error = caught;
  }
  assert.ok(error !== undefined);
  assert.equal(error.problems.length, 6);
  assert.deepEqual(error.problems[0], {
    file: "many.toml",
    line: 2,
    column: 1,
    message: '"socket" must be an absolute path, got "relative.sock"',
  });
  assert.equal(
    error.message,
    [
      'many.toml:2:1: "socket" must be an absolute path, got "relative.sock"',
      'many.toml:3:1: "mode" must be octal digits such as "0660", got "999"',
      'many.toml:4:1: unknown upstream "nowhere"; defined upstreams: "hv1"',
      'many.toml:7:1: "max_clients" must be between 1 and 1048576, got -1',
      `many.toml:11:1: ${uriMessage("not a uri")}`,
      'many.toml:12:1: "share" must be a boolean, got string "yes"',
    ].join("\n"),
  );
  assert.equal(error.name, "ConfigError");
  assert.ok(error instanceof Error);
});

Deno.test("config.example.toml parses, with share off, no audit, metrics off", async () => {
  const path = new URL("../../config.example.toml", import.meta.url).pathname;
  const config = await loadConfig(path);
  assert.equal(config.file, path);
  assert.equal(config.upstreams.length, 1);
  assert.equal(config.upstreams[0].name, "local");
  assert.equal(config.upstreams[0].uriText, "qemu:///system");
  assert.equal(config.upstreams[0].share, false);
  assert.equal(config.listeners.length, 1);
  assert.equal(config.listeners[0].socket, "/tmp/virtmux/local.sock");
  assert.equal(config.listeners[0].upstream, "local");
  assert.equal(config.metrics.listen, "");
  assert.equal(config.control.socket, "auto");
  const text = await Deno.readTextFile(path);
  assert.doesNotMatch(text, /^\s*\[audit\]/m);
});

Deno.test("loadConfig() reports a missing file by name", async () => {
  const path = "/nonexistent/virtmux.toml";
  await assert.rejects(() => loadConfig(path), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.message,
      "/nonexistent/virtmux.toml: cannot read config file: it does not exist",
    );
    return true;
  });
});

Deno.test("loadConfig() reads a file and names it in errors", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, "[log]\nlevel = 'loud'\n");
    await assert.rejects(
      () => loadConfig(path),
      new ConfigError([{
        file: path,
        line: 2,
        column: 1,
        message: '"level" must be one of "debug", "info", "warning", "error", got "loud"',
      }]),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("formatProblem() writes FILE:LINE:COL: message, or FILE: message without a position", () => {
  assert.equal(
    formatProblem({ file: "a.toml", line: 3, column: 7, message: "bad" }),
    "a.toml:3:7: bad",
  );
  assert.equal(
    formatProblem({ file: "a.toml", line: 0, column: 0, message: "bad" }),
    "a.toml: bad",
  );
});

Deno.test("findConfigPath() prefers the flag, then $VIRTMUX_CONFIG, then the default", () => {
  const env = (value: string | undefined) => ({
    getEnv: (name: string) => name === "VIRTMUX_CONFIG" ? value : undefined,
  });
  assert.equal(findConfigPath("flag.toml", env("env.toml")), "flag.toml");
  assert.equal(findConfigPath(undefined, env("env.toml")), "env.toml");
  assert.equal(findConfigPath(undefined, env("")), DEFAULT_CONFIG_PATH);
  assert.equal(findConfigPath(undefined, env(undefined)), "/etc/virtmux/virtmux.toml");
});

Deno.test("parseConfig() reads sasl: proxy when shared or on tcp, else passthrough, or as given", () => {
  const upstream = (lines: string, uri = "test+tls://h/default") =>
    parseConfig(`[[upstream]]\nname = "a"\nuri = "${uri}"\n${lines}`, "v.toml")
      .upstreams[0].sasl;
  assert.equal(upstream(""), "passthrough");
  assert.equal(upstream("", "test:///default"), "passthrough");
  assert.equal(upstream("", "test+tcp://h/default"), "proxy");
  assert.equal(upstream('sasl = "passthrough"\n', "test+tcp://h/default"), "passthrough");
  assert.equal(upstream("share = true\n"), "proxy");
  assert.equal(upstream('sasl = "proxy"\n'), "proxy");
  assert.equal(upstream('share = true\nsasl = "proxy"\n'), "proxy");
});

Deno.test("parseConfig() refuses a sasl mode that cannot work, and an authfile= nobody reads", () => {
  const base = '[[upstream]]\nname = "a"\n';
  for (
    const [text, expected] of [
      [
        base + 'uri = "test+tcp://h/default"\nsasl = "client"\n',
        'v.toml:4:1: "sasl" must be one of "proxy", "passthrough", got "client"',
      ],
      [
        base + 'uri = "test+tcp://h/default"\nshare = true\nsasl = "passthrough"\n',
        'v.toml:5:1: "sasl" = "passthrough" needs share = false: a shared pool logs in to the ' +
        "daemon itself",
      ],
      [
        base + 'uri = "test+tls://h/default?authfile=/a.conf"\n',
        'v.toml:3:1: "authfile=" in the URI of upstream "a" would be ignored: its clients log in ' +
        'themselves; set sasl = "proxy" (or share = true) for virtmux to read it',
      ],
    ]
  ) {
    assert.equal(errorOf(text), expected);
  }
  assert.equal(
    parseConfig(base + 'uri = "test+tcp://h/default?authfile=/a.conf"\nsasl = "proxy"\n', "v.toml")
      .upstreams[0].sasl,
    "proxy",
  );
});
