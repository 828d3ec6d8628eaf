/**
 * The addresses musicians should use to reach the router: every non-loopback interface
 * address when it listens on all of them, or the one address it listens on.
 *
 * Reading the interfaces needs `--allow-sys=networkInterfaces`; without it the router still
 * runs and says how to get the list.
 *
 * @module
 */

import { urlHost } from "./address.ts";

/** One interface address, as `Deno.networkInterfaces()` gives it. */
export interface InterfaceAddress {
  /** The address family. */
  family: "IPv4" | "IPv6";
  /** The address. */
  address: string;
}

/** Where the router can be reached, and on which ports. */
export interface ConnectInfo {
  /** Addresses for the OSC ports; undefined when the interfaces could not be read. */
  addresses: string[] | undefined;
  /** The OSC 1.0 (length prefix, SuperCollider) port, if open. */
  lengthPrefixPort: number | undefined;
  /** The OSC 1.1 (SLIP, Pure Data) port, if open. */
  slipPort: number | undefined;
  /** The status page's URLs (with --http-port). */
  statusUrls: string[];
  /** The web client's URLs (with --http-port). */
  clientUrls: string[];
}

/** The permission that reading the interfaces needs. */
export const INTERFACES_PERMISSION = "--allow-sys=networkInterfaces";

/**
 * This machine's interface addresses.
 *
 * @returns the addresses, or undefined without `--allow-sys=networkInterfaces`
 *
 * @example
 * ```ts
 * import { readInterfaceAddresses } from "./interfaces.ts";
 * const addresses = readInterfaceAddresses(); // undefined without the permission
 * console.log(addresses?.map((a) => a.address));
 * ```
 */
export function readInterfaceAddresses(): InterfaceAddress[] | undefined {
  try {
    return Deno.networkInterfaces().map((i) => ({ family: i.family, address: i.address }));
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) return undefined;
    throw error;
  }
}

/**
 * The addresses a client on another machine should use for a socket listening on `hostname`:
 * for a wildcard ("::", "0.0.0.0"), every interface address except loopback and IPv6
 * link-local ones (IPv4 first; IPv4 only for "0.0.0.0"), or the loopback address when there is
 * no other; for a specific address, that address only.
 *
 * @param hostname the address listened on
 * @param interfaces this machine's addresses (undefined: unknown)
 * @returns the addresses, or undefined when they cannot be known
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reachableAddresses } from "./interfaces.ts";
 * const interfaces = [
 *   { family: "IPv4" as const, address: "127.0.0.1" },
 *   { family: "IPv4" as const, address: "192.168.1.20" },
 *   { family: "IPv6" as const, address: "fe80::1" },
 *   { family: "IPv6" as const, address: "2001:db8::20" },
 * ];
 * assert.deepEqual(reachableAddresses("::", interfaces), ["192.168.1.20", "2001:db8::20"]);
 * assert.deepEqual(reachableAddresses("0.0.0.0", interfaces), ["192.168.1.20"]);
 * assert.deepEqual(reachableAddresses("10.0.0.5", undefined), ["10.0.0.5"]);
 * assert.equal(reachableAddresses("::", undefined), undefined);
 * ```
 */
export function reachableAddresses(hostname: string, interfaces: InterfaceAddress[] | undefined): string[] | undefined {
  const host = hostname.toLowerCase().startsWith("::ffff:") && hostname.includes(".") ? hostname.slice(7) : hostname;
  if (host !== "::" && host !== "0.0.0.0" && host !== "") return [host];
  if (interfaces === undefined) return undefined;
  const ipv4Only = host === "0.0.0.0";
  const usable = interfaces.filter((i) => !(ipv4Only && i.family === "IPv6"));
  const open = usable.filter((i) => !isLoopback(i.address) && !isLinkLocal(i.address));
  const chosen = open.length > 0 ? open : usable.filter((i) => isLoopback(i.address));
  const ordered = [...chosen.filter((i) => i.family === "IPv4"), ...chosen.filter((i) => i.family === "IPv6")];
  return [...new Set(ordered.map((i) => i.address))];
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}

function isLinkLocal(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address) || address.startsWith("169.254.");
}

/**
 * Where to connect, from the listening addresses and ports.
 *
 * @param osc the OSC ports: the address listened on and each open port
 * @param http the HTTP port (with --http-port): the address listened on and the port
 * @param interfaces this machine's addresses (undefined: unknown)
 * @returns addresses, ports and URLs
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectInfo } from "./interfaces.ts";
 * const info = connectInfo(
 *   { hostname: "::", lengthPrefixPort: 55555, slipPort: 55556 },
 *   { hostname: "::", port: 8080 },
 *   [{ family: "IPv4", address: "192.168.1.20" }],
 * );
 * assert.deepEqual(info.addresses, ["192.168.1.20"]);
 * assert.deepEqual(info.statusUrls, ["http://192.168.1.20:8080/"]);
 * ```
 */
export function connectInfo(
  osc: { hostname: string; lengthPrefixPort: number | undefined; slipPort: number | undefined },
  http: { hostname: string; port: number } | undefined,
  interfaces: InterfaceAddress[] | undefined,
): ConnectInfo {
  const httpHosts = http === undefined ? [] : reachableAddresses(http.hostname, interfaces) ?? ["ROUTER"];
  const base = httpHosts.map((h) => `http://${urlHost(h)}:${http!.port}/`);
  return {
    addresses: reachableAddresses(osc.hostname, interfaces),
    lengthPrefixPort: osc.lengthPrefixPort,
    slipPort: osc.slipPort,
    statusUrls: base,
    clientUrls: base.map((url) => `${url}client`),
  };
}

/**
 * The start-up lines that tell musicians (and the operator) how to connect.
 *
 * @param info from {@link connectInfo}
 * @returns one line per address, then the status page and web client
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectLines } from "./interfaces.ts";
 * const lines = connectLines({
 *   addresses: ["192.168.1.20"],
 *   lengthPrefixPort: 55555,
 *   slipPort: 55556,
 *   statusUrls: [],
 *   clientUrls: [],
 * });
 * assert.deepEqual(lines, [
 *   "Musicians connect to 192.168.1.20 port 55555 (SuperCollider, OSC 1.0) or 55556 (Pure Data, OSC 1.1)",
 * ]);
 * ```
 */
export function connectLines(info: ConnectInfo): string[] {
  const ports: string[] = [];
  if (info.lengthPrefixPort !== undefined) ports.push(`${info.lengthPrefixPort} (SuperCollider, OSC 1.0)`);
  if (info.slipPort !== undefined) ports.push(`${info.slipPort} (Pure Data, OSC 1.1)`);
  const lines: string[] = [];
  if (ports.length > 0) {
    const portText = `port ${ports.join(" or ")}`;
    if (info.addresses === undefined) {
      lines.push(
        `Musicians connect to this machine's address ${portText} (start with ${INTERFACES_PERMISSION} to list the addresses here)`,
      );
    } else {
      for (const address of info.addresses) lines.push(`Musicians connect to ${address} ${portText}`);
    }
  }
  for (const [i, url] of info.statusUrls.entries()) {
    lines.push(`Status page: ${url} (web client: ${info.clientUrls[i]})`);
  }
  return lines;
}
