import assert from "node:assert/strict";
import { formatAddress, parseListenAddress } from "../../src/transport/network_address.ts";

Deno.test("network_address: the forms libvirt users write", () => {
  const rows: [string, string, number][] = [
    ["127.0.0.1:16600", "127.0.0.1", 16600],
    ["0.0.0.0", "0.0.0.0", 16514],
    ["[::1]:16514", "::1", 16514],
    ["[::]", "::", 16514],
    ["[fe80::1%eth0]:1", "fe80::1%eth0", 1],
    ["bastion.example.com:443", "bastion.example.com", 443],
    ["localhost", "localhost", 16514],
  ];
  for (const [text, hostname, port] of rows) {
    assert.deepEqual(parseListenAddress(text, 16514), { hostname, port }, text);
  }
});

Deno.test("network_address: mistakes say what is wrong", () => {
  const rows: [string, RegExp][] = [
    ["::1", /write an IPv6 address in brackets/],
    ["[::1", /closing "\]"/],
    ["[::1]16514", /expected ":PORT"/],
    ["[host]:1", /not an IPv6 address/],
    [":16514", /the address is empty/],
    ["h:0", /port 0 is not between 1 and 65535/],
    ["h:65536", /port 65536/],
    ["h:http", /port "http" is not a number/],
    ["bad host:1", /not an IPv4 address or host name/],
  ];
  for (const [text, pattern] of rows) {
    assert.throws(() => parseListenAddress(text, 16514), pattern, text);
  }
});

Deno.test("network_address: IPv6 is written in brackets", () => {
  assert.equal(formatAddress("::1", 16514), "[::1]:16514");
  assert.equal(formatAddress("10.0.0.1", 16509), "10.0.0.1:16509");
  assert.equal(formatAddress("::ffff:192.0.2.7", 5), "192.0.2.7:5");
});
