import assert from "node:assert/strict";
import { localAnswer } from "../../../src/proxy/shared/local_answers.ts";
import { ErrorCode } from "../../../src/wire/constants.ts";
import { DOMAIN_START_AUTODESTROY } from "../../../src/wire/domain_start.ts";
import { concat, frame, words } from "../../_helpers/frames.ts";

const call = (procedure: number, body?: Uint8Array) => frame({ procedure, serial: 3, body });
const XML = new TextEncoder().encode("<domain/>"); // 9 bytes, padded to 12
const createXml = (flags: number) =>
  call(10, concat(words(9), XML, new Uint8Array(3), words(flags)));

Deno.test("AUTH_LIST is answered with auth none: virtmux authenticated upstream itself", () => {
  assert.deepEqual(localAnswer(call(66), false), { kind: "reply", body: words(1, 0) });
});

Deno.test("the keepalive probe is answered yes and starts pinging; FD passing no", () => {
  assert.deepEqual(localAnswer(call(60, words(10)), true), {
    kind: "reply",
    body: words(1),
    keepalive: true,
  });
  assert.deepEqual(localAnswer(call(60, words(8)), true), { kind: "reply", body: words(0) });
});

Deno.test("other feature probes go to the daemon once the client is open, else are answered no", () => {
  assert.equal(localAnswer(call(60, words(14)), true), undefined);
  assert.deepEqual(localAnswer(call(60, words(14)), false), { kind: "reply", body: words(0) });
});

Deno.test("open, close and the close callback are the session's; identity is refused", () => {
  assert.deepEqual(localAnswer(call(1), false), { kind: "open" });
  assert.deepEqual(localAnswer(call(2), true), { kind: "close" });
  assert.deepEqual(localAnswer(call(360), true), { kind: "reply" });
  assert.deepEqual(localAnswer(call(361), true), { kind: "reply" });
  const identity = localAnswer(call(419), true);
  assert.equal(identity?.kind, "error");
  assert.equal(identity?.kind === "error" && identity.code, ErrorCode.OPERATION_DENIED);
});

Deno.test("a domain started with AUTODESTROY is refused with an error that says why", () => {
  const refused = localAnswer(createXml(DOMAIN_START_AUTODESTROY | 1), true);
  assert.equal(refused?.kind, "error");
  if (refused?.kind !== "error") return;
  assert.equal(refused.code, ErrorCode.OPERATION_UNSUPPORTED);
  assert.match(refused.message, /VIR_DOMAIN_START_AUTODESTROY .* outlives the client/);
  assert.equal(localAnswer(createXml(1), true), undefined, "paused only: forwarded");
});

Deno.test("a start call whose arguments cannot be read is answered with an error", () => {
  const answer = localAnswer(call(10, words(1000)), true);
  assert.equal(answer?.kind, "error");
});

Deno.test("every other call goes to the pool", () => {
  assert.equal(localAnswer(call(157), true), undefined);
});
