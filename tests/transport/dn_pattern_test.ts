import assert from "node:assert/strict";
import { dnMatches, dnMatchesAny } from "../../src/transport/dn_pattern.ts";

Deno.test("dn_pattern: GLib's simple wildcards on the whole DN", () => {
  const rows: [string, string, boolean, string][] = [
    ["O=virtmux,CN=*", "O=virtmux,CN=alice", true, "star at the end"],
    ["O=virtmux,CN=*", "O=virtmux,CN=", true, "star matches the empty run"],
    ["O=virtmux,CN=*", "O=other,CN=alice", false, "prefix differs"],
    ["*,CN=alice", "C=GB,O=virtmux,CN=alice", true, "star at the start"],
    ["*CN=a*e*", "O=x,CN=alice", true, "several stars, backtracking"],
    ["O=virtmux,CN=?ob", "O=virtmux,CN=bob", true, "question mark: one character"],
    ["O=virtmux,CN=?ob", "O=virtmux,CN=ob", false, "question mark: not zero"],
    ["O=virtmux,CN=b?b", "O=virtmux,CN=bäb", true, "question mark: one non-ASCII char"],
    ["O=virtmux,CN=alice", "O=virtmux,CN=alice2", false, "the whole DN must match"],
    ["O=[ab],CN=*", "O=a,CN=x", false, "brackets are literal"],
    ["O=[ab],CN=*", "O=[ab],CN=x", true, "brackets match themselves"],
    ["O=a\\,b,CN=*", "O=a\\,b,CN=x", true, "a backslash is literal"],
    ["", "", true, "empty pattern, empty DN"],
    ["*", "", true, "lone star, empty DN"],
  ];
  for (const [pattern, dn, expected, why] of rows) {
    assert.equal(dnMatches(pattern, dn), expected, why);
  }
});

Deno.test("dn_pattern: any of a list", () => {
  assert.ok(dnMatchesAny(["O=a,*", "O=b,*"], "O=b,CN=x"));
  assert.ok(!dnMatchesAny([], "O=b,CN=x"));
});
