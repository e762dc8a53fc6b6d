/** The keys of `[[listen]]` naming upstreams, read through readListeners. */

import assert from "node:assert/strict";
import { listenersOf } from "../_helpers/config_section.ts";

const read = listenersOf;

const HV1 = '[[upstream]]\nname = "hv1"\nuri = "test:///default"\n';
const SHARED = '[[upstream]]\nname = "s1"\nuri = "test:///default"\nshare = true\n' +
  '[[upstream]]\nname = "s2"\nuri = "test:///default"\nshare = true\n';

Deno.test("[[listen]] with several upstreams must name one it knows", () => {
  const { problems } = read(
    SHARED +
      '[[listen]]\nsocket = "/run/a.sock"\n[[listen]]\nsocket = "/run/b.sock"\nupstream = "s3"\n',
  );
  assert.deepEqual(problems, [
    `9:1: missing required key "upstream" in [[listen]]: there are 2 upstreams ("s1", "s2")`,
    `13:1: unknown upstream "s3"; did you mean "s1"?`,
  ]);
});

Deno.test("[[listen]] route_by_name needs allowed upstreams, all of them shared", () => {
  const ok = read(
    SHARED +
      '[[listen]]\nsocket = "/run/a.sock"\nupstream = "s1"\nroute_by_name = true\n' +
      'allow_upstreams = ["s2"]\n',
  );
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.listeners[0].allowUpstreams, ["s2"]);
  const bad = read(
    HV1 + '[[listen]]\nsocket = "/run/a.sock"\nroute_by_name = true\n',
  );
  assert.deepEqual(bad.problems, [
    `6:1: "route_by_name" needs "allow_upstreams": the upstreams a client may pick by name`,
    `6:1: "route_by_name" needs share = true on upstream "hv1": only a shared pool answers the ` +
    `handshake itself and so learns the name before connecting`,
  ]);
});

Deno.test("[[listen]] allow_upstreams: each name must be defined, and shared to be routed to", () => {
  const { problems } = read(
    SHARED + HV1 +
      '[[listen]]\nsocket = "/run/a.sock"\nupstream = "s1"\nroute_by_name = true\n' +
      'allow_upstreams = ["s2", "hv1", "zz"]\n',
  );
  assert.deepEqual(problems, [
    `16:26: upstream "hv1" needs share = true to be picked by "route_by_name"`,
    `16:33: unknown upstream "zz"; did you mean "s1"?`,
  ]);
});

Deno.test("[[listen]] with no [[upstream]] at all", () => {
  const { problems } = read('[[listen]]\nsocket = "/run/a.sock"\nallow_upstreams = ["hv1"]\n');
  assert.deepEqual(problems, [
    `1:1: missing required key "upstream" in [[listen]], and no [[upstream]] is defined`,
    `3:20: unknown upstream "hv1": no [[upstream]] is defined`,
  ]);
});
