/**
 * Which UDP sources the bridge accepts datagrams from: by default only the app's own address
 * (the `--send-udp` host; any loopback address when that is loopback), so that nobody else who
 * reaches the UDP port can inject into the group or send private messages as the bridge.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { errorMessage } from "../util/error_text.ts";

/** An `--allow-udp-from` entry that cannot be used. */
export class SourceFilterError extends Error {
  /**
   * An entry that cannot be used.
   *
   * @param message which entry, and why
   */
  constructor(message: string) {
    super(message);
    this.name = "SourceFilterError";
  }
}

/** Decides whether a datagram's source address may speak through the bridge. */
export interface SourceFilter {
  /** "any", or what is allowed, for logs. */
  readonly description: string;
  /**
   * Whether a datagram from `address` may pass.
   *
   * @param address the datagram's source address as node:dgram reports it
   * @returns whether to relay it
   */
  allows(address: string): boolean;
}

/** An IPv4-mapped IPv6 address ("::ffff:192.0.2.1") as its IPv4 form; other text unchanged, lower case. */
function normalize(address: string): string {
  const lower = address.toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped ? mapped[1]! : lower;
}

/** Whether an address is loopback (127.0.0.0/8, ::1). */
export function isLoopback(address: string): boolean {
  const a = normalize(address);
  return a === "::1" || a === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/**
 * Builds the filter from `--allow-udp-from` (addresses, host names, or "any"), or, when that
 * is not given, from the `--send-udp` host. Host names are resolved once, here.
 *
 * @param allowUdpFrom the flag's entries, or undefined for the default
 * @param sendUdpHost the app's host (`--send-udp`)
 * @returns the filter
 * @throws {SourceFilterError} when a host name cannot be resolved (the message names it)
 *
 * @example The default for an app on this machine: loopback only
 * ```ts
 * import assert from "node:assert/strict";
 * import { sourceFilter } from "./source_filter.ts";
 * const filter = await sourceFilter(undefined, "127.0.0.1");
 * assert.ok(filter.allows("127.0.0.1") && filter.allows("::ffff:127.0.0.5") && filter.allows("::1"));
 * assert.ok(!filter.allows("192.0.2.7"));
 * assert.ok((await sourceFilter(["any"], "127.0.0.1")).allows("192.0.2.7"));
 * ```
 */
export async function sourceFilter(allowUdpFrom: string[] | undefined, sendUdpHost: string): Promise<SourceFilter> {
  const entries = (allowUdpFrom ?? [sendUdpHost]).map((e) => e.trim()).filter((e) => e !== "");
  if (entries.some((e) => e.toLowerCase() === "any")) return { description: "any source", allows: () => true };
  // The default for an app on this machine is any loopback source; listed entries are exact.
  const loopback = allowUdpFrom === undefined && isLoopback(sendUdpHost);
  const allowed = new Set<string>();
  for (const entry of loopback ? [] : entries) {
    if (normalize(entry) === "localhost") {
      allowed.add("127.0.0.1").add("::1");
      continue;
    }
    if (isIP(normalize(entry)) !== 0) {
      allowed.add(normalize(entry));
      continue;
    }
    let resolved;
    try {
      resolved = await lookup(entry, { all: true });
    } catch (error) {
      throw new SourceFilterError(
        `cannot resolve '${entry}' for --allow-udp-from: ${errorMessage(error)}`,
      );
    }
    for (const { address } of resolved) allowed.add(normalize(address));
  }
  const description = [...(loopback ? ["loopback"] : []), ...allowed].join(", ") || "nobody";
  return {
    description,
    allows: (address) => {
      const a = normalize(address);
      return (loopback && isLoopback(a)) || allowed.has(a);
    },
  };
}
