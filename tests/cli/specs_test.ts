import assert from "node:assert/strict";
import { listenerSpecs, upstreamSpec } from "../../src/cli/specs.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Program } from "../../src/wire/constants.ts";
import { resolveProcedureName } from "../../src/wire/procedure_names.ts";

function ref(name: string): { program: number; procedure: number } {
  const found = resolveProcedureName(name);
  assert.ok(found !== undefined, name);
  return found;
}

const TWO_UPSTREAMS = `
[limits]
max_message_bytes = 1048580
max_clients = 100
max_inflight_per_client = 8
connect_timeout = 2.5
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
max_message_bytes = 300000

[[upstream]]
name = "hv2"
uri = "test+tcp://127.0.0.1:16509/default"
share = true
`;

Deno.test("an upstream's spec takes its pool settings, and the connect timeout from [limits]", () => {
  const config = parseConfig(TWO_UPSTREAMS, "t.toml");
  const [hv1, hv2] = config.upstreams;
  assert.deepEqual(upstreamSpec(config, hv1), {
    name: "hv1",
    uri: hv1.uri,
    connectTimeoutMs: 2500,
    share: true,
    poolMax: 2,
    maxPools: 8,
    maxInflightPerConnection: 3,
    idleMs: 60000,
    keepaliveIntervalMs: 2000,
    keepaliveCount: 3,
    restartWaitMs: undefined, // survive_restart is off
    sasl: "proxy", // shared pools log in themselves
  });
  const defaults = upstreamSpec(config, hv2);
  assert.deepEqual(
    [defaults.poolMax, defaults.maxPools, defaults.idleMs, defaults.keepaliveCount],
    [4, 16, 300000, 5],
  );
});

Deno.test("a listener's limits are the smallest of global, listener and upstream", () => {
  const config = parseConfig(
    TWO_UPSTREAMS + `
[[listen]]
socket = "/run/a.sock"
upstream = "hv1"
max_message_bytes = 600000
max_clients = 10

[[listen]]
socket = "/run/b.sock"
upstream = "hv2"
max_message_bytes = 600000

[[listen]]
socket = "/run/c.sock"
upstream = "hv2"
max_clients = 1000
`,
    "t.toml",
  );
  const [a, b, c] = listenerSpecs(config);
  // The upstream's 300000 is the smallest; then the listener's 600000; then [limits].
  assert.deepEqual([a.maxFrameBytes, b.maxFrameBytes, c.maxFrameBytes], [300000, 600000, 1048580]);
  // The listener's 10 is under the global 100; 1000 is not, so the global 100 applies.
  assert.deepEqual([a.maxClients, b.maxClients, c.maxClients], [10, 100, 100]);
  assert.deepEqual([a.maxInflightPerClient, c.maxInflightPerClient], [8, 8]);
  assert.deepEqual(a.timeouts, { openMs: 5000, frameMs: 7500, idleMs: 600000 });
  assert.equal(a.upstream.name, "hv1");
  assert.equal(c.upstream.name, "hv2");
});

Deno.test("a listener's socket settings and peer ids pass through", () => {
  const config = parseConfig(
    TWO_UPSTREAMS + `
[[listen]]
socket = "/run/a.sock"
mode = "0600"
group = "libvirt"
readonly = true
upstream = "hv1"
allow_uids = [0, 1000]
allow_gids = [0]

[[listen]]
socket = "/run/b.sock"
upstream = "hv2"
`,
    "t.toml",
  );
  const [a, b] = listenerSpecs(config);
  assert.deepEqual(
    [a.socket, a.mode, a.group, a.readonly, a.allowUids, a.allowGids],
    ["/run/a.sock", 0o600, "libvirt", true, new Set([0, 1000]), new Set([0])],
  );
  assert.deepEqual(
    [b.mode, b.group, b.readonly, b.allowUids.size, b.allowGids.size],
    [0o660, undefined, false, 0, 0],
  );
});

Deno.test("programs are the named ones plus keepalive; the default leaves admin out", () => {
  const config = parseConfig(
    TWO_UPSTREAMS + `
[[listen]]
socket = "/run/a.sock"
upstream = "hv1"
programs = ["remote", "admin"]

[[listen]]
socket = "/run/b.sock"
upstream = "hv1"
`,
    "t.toml",
  );
  const [a, b] = listenerSpecs(config);
  assert.deepEqual(a.programs, new Set([Program.KEEPALIVE, Program.REMOTE, Program.ADMIN]));
  assert.deepEqual(
    b.programs,
    new Set([Program.KEEPALIVE, Program.REMOTE, Program.QEMU, Program.LXC]),
  );
});

Deno.test("deny and allow lists become the listener's policy", () => {
  const config = parseConfig(
    TWO_UPSTREAMS + `
[[listen]]
socket = "/run/deny.sock"
upstream = "hv1"
deny_procedures = ["DOMAIN_DESTROY", "virDomainUndefine"]

[[listen]]
socket = "/run/allow.sock"
upstream = "hv1"
allow_procedures = ["virConnectListAllDomains"]
`,
    "t.toml",
  );
  const [deny, allow] = listenerSpecs(config);
  const destroy = ref("DOMAIN_DESTROY");
  const undefine = ref("DOMAIN_UNDEFINE");
  const list = ref("CONNECT_LIST_ALL_DOMAINS");
  const open = ref("CONNECT_OPEN");
  assert.match(
    deny.policy.refusal(destroy.program, destroy.procedure) ?? "",
    /DOMAIN_DESTROY is denied by the policy of listener "\/run\/deny.sock"/,
  );
  assert.ok(deny.policy.refusal(undefine.program, undefine.procedure) !== undefined);
  assert.equal(deny.policy.refusal(list.program, list.procedure), undefined);
  assert.equal(allow.policy.refusal(list.program, list.procedure), undefined);
  assert.equal(allow.policy.refusal(open.program, open.procedure), undefined);
  assert.ok(allow.policy.refusal(destroy.program, destroy.procedure) !== undefined);
});

Deno.test("routes hold the allowed upstreams only when route_by_name is on", () => {
  const config = parseConfig(
    TWO_UPSTREAMS + `
[[listen]]
socket = "/run/route.sock"
upstream = "hv1"
route_by_name = true
allow_upstreams = ["hv2"]

[[listen]]
socket = "/run/plain.sock"
upstream = "hv1"
allow_upstreams = ["hv2"]
`,
    "t.toml",
  );
  const [route, plain] = listenerSpecs(config);
  assert.deepEqual([...route.routes.keys()], ["hv2"]);
  assert.deepEqual(route.routes.get("hv2"), upstreamSpec(config, config.upstreams[1]));
  assert.equal(plain.routes.size, 0);
});

Deno.test("a listener naming an unknown upstream is refused with both names", () => {
  const config = parseConfig(
    TWO_UPSTREAMS + '\n[[listen]]\nsocket = "/run/a.sock"\nupstream = "hv1"\n',
    "t.toml",
  );
  config.listeners[0].upstream = "gone";
  assert.throws(() => listenerSpecs(config), {
    message: 'Listener "/run/a.sock" names unknown upstream "gone"',
  });
});
