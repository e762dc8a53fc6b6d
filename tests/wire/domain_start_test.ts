import assert from "node:assert/strict";
import { Program } from "../../src/wire/constants.ts";
import { DOMAIN_START_AUTODESTROY, domainStartFlags } from "../../src/wire/domain_start.ts";
import { concat, frame, words } from "../_helpers/frames.ts";

const XML = new TextEncoder().encode("<domain/>"); // 9 bytes, padded to 12

Deno.test("DOMAIN_CREATE_XML: the flags follow the padded XML string", () => {
  const body = concat(
    words(9), // xml_desc length
    XML,
    new Uint8Array(3), // padding
    words(DOMAIN_START_AUTODESTROY), // flags
  );
  assert.equal(domainStartFlags(frame({ procedure: 10, body })), DOMAIN_START_AUTODESTROY);
});

Deno.test("DOMAIN_CREATE_WITH_FLAGS: the flags follow name, uuid and id", () => {
  const name = new TextEncoder().encode("test");
  const body = concat(
    words(4), // name length
    name,
    new Uint8Array(16), // uuid
    words(1), // id
    words(3), // flags: paused | autodestroy
    words(0), // padding a client may add: never mistaken for the flags
  );
  assert.equal(domainStartFlags(frame({ procedure: 196, body })), 3);
});

Deno.test("other procedures and programs have no start flags", () => {
  assert.equal(domainStartFlags(frame({ procedure: 11, body: words(0) })), undefined);
  assert.equal(
    domainStartFlags(frame({ program: Program.QEMU, procedure: 10, body: words(0) })),
    undefined,
  );
});

Deno.test("truncated arguments are a RangeError at every cut", () => {
  const full = frame({ procedure: 10, body: concat(words(9), XML, new Uint8Array(3), words(2)) });
  for (let cut = 28; cut < full.length; cut++) {
    const short = full.slice(0, cut);
    short[3] = cut; // keep the length word honest
    assert.throws(() => domainStartFlags(short), RangeError, `cut at ${cut}`);
  }
});

Deno.test("a string longer than STRING_MAX is a RangeError", () => {
  assert.throws(
    () => domainStartFlags(frame({ procedure: 10, body: words(0x7fffffff) })),
    RangeError,
  );
});
