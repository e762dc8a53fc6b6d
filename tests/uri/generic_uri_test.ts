/**
 * Tests of src/uri/generic_uri.ts, the RFC 3986 layer; what libvirt makes of the pieces (and the
 * libvirt-9.0 oracle rows) is tested in uri_test.ts.
 */

import assert from "node:assert/strict";
import {
  decodeText,
  escapeFragment,
  escapePath,
  escapeQueryValue,
  parseGenericUri,
  parseParams,
  UriError,
} from "../../src/uri/generic_uri.ts";

const text = (bytes: Uint8Array | undefined) => bytes === undefined ? undefined : decodeText(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);

Deno.test("a URI splits into scheme, user, server, port, path, raw query and fragment", () => {
  const uri = parseGenericUri("qemu+ssh://u%40x@[::1]:2222/sys%20tem?a=%41&b#fr%41g");
  assert.equal(uri.scheme, "qemu+ssh");
  assert.equal(text(uri.user), "u@x");
  assert.equal(text(uri.server), "[::1]", "brackets are kept: stripping them is libvirt's");
  assert.equal(uri.port, 2222);
  assert.equal(text(uri.path), "/sys tem");
  assert.equal(text(uri.query), "a=%41&b", "the query stays raw for virURIParseParams");
  assert.equal(text(uri.fragment), "frAg");
});

Deno.test("absent pieces are undefined and an absent port is 0", () => {
  const bare = parseGenericUri("test:///default");
  assert.deepEqual(
    [bare.user, bare.server, bare.port, text(bare.path), bare.query, bare.fragment],
    [undefined, undefined, 0, "/default", undefined, undefined],
  );
  const rootless = parseGenericUri("qemu:system");
  assert.deepEqual([rootless.server, text(rootless.path)], [undefined, "system"]);
  const hostOnly = parseGenericUri("qemu+tcp://host");
  assert.deepEqual([text(hostOnly.server), hostOnly.path], ["host", undefined]);
});

Deno.test("URIs libxml2 refuses throw UriError naming the URI and the place", () => {
  const cases: Array<[string, string]> = [
    ["", "it is empty"],
    ["1qemu:///system", "it does not start with a driver name"],
    ["hv1", `it has no driver name before ":"`],
    ["qemu+tcp://h:/system", "the port is empty"],
    ["qemu+tcp://[::1/system", `the "[" of an IPv6 address is not closed`],
    ["qemu+tcp://h:2147483648/", `port "2147483648" is out of range`],
    ["qemu:///a b", `character " " at offset 9 is not allowed there`],
    ["qemu:///s?a=%zz", `"%zz" is not a valid percent-escape`],
  ];
  for (const [uri, reason] of cases) {
    assert.throws(() => parseGenericUri(uri), (error: unknown) => {
      assert.ok(error instanceof UriError, uri);
      assert.equal(error.uri, uri);
      assert.equal(error.message, `Cannot parse URI "${uri}": ${reason}`);
      return true;
    });
  }
});

Deno.test("query parameters split as virURIParseParams splits them", () => {
  const split = (query: string) =>
    parseParams(bytes(query)).map(([name, value]) => [decodeText(name), decodeText(value)]);
  assert.deepEqual(split("a=1&b&c=&=d&&e=x%2By"), [["a", "1"], ["b", ""], ["c", ""], [
    "e",
    "x+y",
  ]]);
  assert.deepEqual(split("a=1;b=2"), [["a", "1"], ["b", "2"]], "';' once no '&' is left");
  assert.deepEqual(split("a=1&b=2;c=3"), [["a", "1"], ["b", "2"], ["c", "3"]]);
  assert.deepEqual(split("a%00b=c%00d"), [["a", "c"]], "cut at a decoded NUL");
  assert.deepEqual(parseParams(undefined), []);
});

Deno.test("escaping follows xmlSaveUri for paths and fragments and g_uri_escape for values", () => {
  assert.equal(escapePath(bytes("/sys tem:x@y;a=b")), "/sys%20tem%3Ax@y;a=b");
  assert.equal(escapeFragment(bytes("a b?[x]")), "a%20b?[x]");
  assert.equal(escapeQueryValue(bytes("x+y&z~/é")), "x%2By%26z~%2F%C3%A9");
});
