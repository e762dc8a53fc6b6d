import assert from "node:assert/strict";
import { describeError, UpstreamError } from "../../src/proxy/upstream_error.ts";
import { ErrorCode, ErrorDomain } from "../../src/wire/constants.ts";

Deno.test("an upstream error defaults to VIR_ERR_RPC in the RPC domain", () => {
  const error = new UpstreamError("Cannot connect");
  assert.equal(error.name, "UpstreamError");
  assert.equal(error.code, ErrorCode.RPC);
  assert.equal(error.domain, ErrorDomain.RPC);
});

Deno.test("from() keeps a daemon's own error whole and wraps anything else", () => {
  const daemon = new UpstreamError("access denied", ErrorCode.AUTH_FAILED, ErrorDomain.REMOTE);
  assert.equal(UpstreamError.from(daemon), daemon);
  const wrapped = UpstreamError.from(new TypeError("Bad resource ID"));
  assert.ok(wrapped instanceof UpstreamError);
  assert.deepEqual([wrapped.message, wrapped.code], ["Bad resource ID", ErrorCode.RPC]);
  assert.equal(UpstreamError.from("a thrown string").message, "a thrown string");
});

Deno.test("describeError drops a trailing documentation link", () => {
  assert.equal(
    describeError(new Error("invalid peer certificate: UnknownIssuer: https://docs.example/tls")),
    "invalid peer certificate: UnknownIssuer",
  );
  assert.equal(
    describeError(new Error("see https://x.example/a in the middle")),
    "see https://x.example/a in the middle",
  );
});
