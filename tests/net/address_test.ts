/**
 * Client addresses: how they are shown, and the key the per-address limits count by (an IPv6
 * client by its /64, an IPv4 client on a dual-stack socket by its IPv4 address).
 */
import assert from "node:assert/strict";
import { addressKey, formatPeerAddress } from "../../lib/net/address.ts";

Deno.test("addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 as its /64 in every spelling", () => {
  const table: [string, string][] = [
    ["203.0.113.5", "203.0.113.5"],
    ["::ffff:203.0.113.5", "203.0.113.5"],
    ["::FFFF:127.0.0.2", "127.0.0.2"],
    ["2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::1", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002::ffff", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
  ];
  for (const [hostname, key] of table) assert.equal(addressKey(hostname), key, hostname);
});

Deno.test("addressKey: every address of one /64 shares one key; the next /64 has its own", () => {
  const keys = new Set(
    ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:1:2:3:4"].map(addressKey),
  );
  assert.deepEqual([...keys], ["2001:db8:1:2::/64"]);
  assert.notEqual(addressKey("2001:db8:1:3::1"), addressKey("2001:db8:1:2::1"));
});

Deno.test("formatPeerAddress: IPv4 plain, IPv4-mapped unmapped, IPv6 in brackets", () => {
  assert.equal(formatPeerAddress("203.0.113.5", 51234), "203.0.113.5:51234");
  assert.equal(formatPeerAddress("::ffff:203.0.113.5", 51234), "203.0.113.5:51234");
  assert.equal(formatPeerAddress("2001:db8::1", 51234), "[2001:db8::1]:51234");
  assert.equal(formatPeerAddress("::1", 7), "[::1]:7");
});
