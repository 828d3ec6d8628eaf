/**
 * Client addresses as the logs and the per-address limits see them.
 *
 * @module
 */

/**
 * Formats a peer address; IPv4 clients on a dual-stack socket appear as plain IPv4.
 *
 * @param hostname the address as the socket gives it
 * @param port the port
 * @returns "203.0.113.5:51234" or "[2001:db8::1]:51234"
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatPeerAddress } from "./address.ts";
 * assert.equal(formatPeerAddress("::ffff:10.0.0.1", 5), "10.0.0.1:5");
 * assert.equal(formatPeerAddress("::1", 5), "[::1]:5");
 * ```
 */
export function formatPeerAddress(hostname: string, port: number): string {
  return formatHostPort(unmapIPv4(hostname), port);
}

/**
 * Formats a socket's peer address with `formatPeerAddress`.
 *
 * @param addr the address as `Deno.Conn.remoteAddr` gives it
 * @returns "203.0.113.5:51234", "[2001:db8::1]:51234", or the transport's name for a socket that is not TCP
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatPeer } from "./address.ts";
 * assert.equal(formatPeer({ transport: "tcp", hostname: "::1", port: 5 }), "[::1]:5");
 * ```
 */
export function formatPeer(addr: Deno.Addr): string {
  if (addr.transport !== "tcp") return addr.transport;
  return formatPeerAddress(addr.hostname, addr.port);
}

/**
 * Formats a host and a port as one authority, an IPv6 address in brackets (no other change).
 *
 * @param hostname a host name, an IPv4 or an IPv6 address
 * @param port the port
 * @returns "127.0.0.1:55555" or "[::]:55555"
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHostPort } from "./address.ts";
 * assert.equal(formatHostPort("::", 55555), "[::]:55555");
 * assert.equal(formatHostPort("localhost", 80), "localhost:80");
 * ```
 */
export function formatHostPort(hostname: string, port: number): string {
  return `${urlHost(hostname)}:${port}`;
}

/**
 * An address as the host part of a URL: IPv6 in brackets.
 *
 * @param address an IPv4 or IPv6 address, or a name
 * @returns the host part
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { urlHost } from "./address.ts";
 * assert.equal(urlHost("2001:db8::1"), "[2001:db8::1]");
 * assert.equal(urlHost("192.168.1.20"), "192.168.1.20");
 * ```
 */
export function urlHost(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}

function unmapIPv4(hostname: string): string {
  return hostname.toLowerCase().startsWith("::ffff:") && hostname.includes(".") ? hostname.slice(7) : hostname;
}

/**
 * The key of per-address limits: an IPv4 address as is, an IPv6 address as its /64 prefix
 * (one host or home network commonly holds a whole /64, so counting single IPv6 addresses would
 * let one attacker pass any per-address limit).
 *
 * @param hostname the address as the socket gives it
 * @returns "203.0.113.5" or "2001:db8:1:2::/64"
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressKey } from "./address.ts";
 * assert.equal(addressKey("::ffff:127.0.0.2"), "127.0.0.2");
 * assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
 * assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
 * ```
 */
export function addressKey(hostname: string): string {
  const host = unmapIPv4(hostname.replace(/%.*$/, ""));
  if (!host.includes(":")) return host;
  const [head = "", tail = ""] = host.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = host.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(":")}::/64`;
}
