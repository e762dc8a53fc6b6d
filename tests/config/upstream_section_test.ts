import assert from "node:assert/strict";
import { readUpstreams, UPSTREAM_DEFAULTS } from "../../src/config/upstream_section.ts";
import { problems, tables } from "../_helpers/config_section.ts";

Deno.test("[[upstream]] reads name, uri and pool settings, with the path of each table", () => {
  const { checker, sections } = tables(
    "upstream",
    '[[upstream]]\nname = "hv1"\nuri = "qemu+tcp://h/system"\nshare = true\npool_max = 2\n' +
      '[[upstream]]\nname = "hv2"\nuri = "test:///default"\nmax_message_bytes = 300000\n',
  );
  const [hv1, hv2] = readUpstreams(checker, sections);
  assert.deepEqual(problems(checker), []);
  assert.deepEqual(hv1.path, ["upstream", 0]);
  assert.equal(hv1.config.uri.host, "h");
  assert.deepEqual({ ...hv1.config, uri: undefined }, {
    ...UPSTREAM_DEFAULTS,
    name: "hv1",
    uri: undefined,
    uriText: "qemu+tcp://h/system",
    share: true,
    sasl: "proxy",
    poolMax: 2,
  });
  assert.equal(hv2.config.maxMessageBytes, 300000);
  assert.equal(hv1.config.maxMessageBytes, undefined);
});

Deno.test("[[upstream]] names must be valid and unique, and the uri one libvirt accepts", () => {
  const { checker, sections } = tables(
    "upstream",
    '[[upstream]]\nname = "hv1"\nuri = "qemu+foo://h/"\n' +
      '[[upstream]]\nname = "hv1"\nuri = "test:///default"\n' +
      '[[upstream]]\nname = "a b"\n',
  );
  const read = readUpstreams(checker, sections);
  assert.deepEqual(read.map((u) => u.config.name), ["hv1", "hv1", "a b"]);
  assert.deepEqual(problems(checker), [
    `3:1: cannot parse URI "qemu+foo://h/": transport "foo" is not supported`,
    `5:1: duplicate upstream name "hv1" (first defined at line 2)`,
    `7:1: missing required key "uri" in [[upstream]]`,
    `8:1: upstream name "a b" may hold only letters, digits, "_", "." and "-"`,
  ]);
});

Deno.test("survive_restart and restart_wait are read on a shared upstream", () => {
  const { checker, sections } = tables(
    "upstream",
    '[[upstream]]\nname = "hv1"\nuri = "test:///default"\nshare = true\n' +
      "survive_restart = true\nrestart_wait = 12\n",
  );
  const [hv1] = readUpstreams(checker, sections);
  assert.deepEqual(problems(checker), []);
  assert.equal(hv1.config.surviveRestart, true);
  assert.equal(hv1.config.restartWaitMs, 12000);
});

Deno.test("survive_restart on a dedicated upstream is an error that says why", () => {
  const { checker, sections } = tables(
    "upstream",
    '[[upstream]]\nname = "hv1"\nuri = "test:///default"\nsurvive_restart = true\n',
  );
  readUpstreams(checker, sections);
  assert.equal(problems(checker).length, 1);
  assert.match(problems(checker)[0], /^4:1: survive_restart needs share = true/);
});
