/**
 * `/oscrouter/private target key args...` rewritten as `/oscrouter/private sender key args...`.
 *
 * @module
 */

import { checkMessage, skipString } from "../osc/validate.ts";

/** The address of a private message. */
export const PRIVATE_ADDRESS = "/oscrouter/private";

const TAG_SIZE: Record<string, number> = { i: 4, f: 4, h: 8, d: 8 };
const utf8 = new TextEncoder();

/**
 * Replaces a private message's first argument (the target) by the sender's name,
 * at the byte level: every other byte stays as the sender wrote it (NaN payloads,
 * `S` tags and all). A numeric target (Pd) becomes an `s` argument; an `S` stays `S`.
 *
 * @param packet a valid private message whose first argument is a string or a number
 * @param senderName the sender's user name
 * @returns the rewritten packet
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodeMessage } from "../osc/codec.ts";
 * import { rewritePrivate } from "./private_message.ts";
 * const sent = encodeMessage({ address: "/oscrouter/private", args: [
 *   { type: "s", value: "bob" }, { type: "s", value: "whispa" }, { type: "d", value: 0.5 }] });
 * assert.deepEqual(decodePacket(rewritePrivate(sent, "ana")), { address: "/oscrouter/private", args: [
 *   { type: "s", value: "ana" }, { type: "s", value: "whispa" }, { type: "d", value: 0.5 }] });
 * ```
 */
export function rewritePrivate(packet: Uint8Array, senderName: string): Uint8Array {
  const tags = checkMessage(packet, 0, packet.length);
  const argsStart = skipString(packet, tags, packet.length);
  const tag = String.fromCharCode(packet[tags + 1]!);
  const firstArgEnd = tag === "s" || tag === "S"
    ? skipString(packet, argsStart, packet.length)
    : argsStart + (TAG_SIZE[tag] ?? 0);
  const name = utf8.encode(senderName);
  const nameBytes = (name.length + 4) & ~3;
  const rest = packet.subarray(firstArgEnd);
  const out = new Uint8Array(argsStart + nameBytes + rest.length);
  out.set(packet.subarray(0, argsStart));
  if (tag !== "S") out[tags + 1] = 0x73; // 's'
  out.set(name, argsStart);
  out.set(rest, argsStart + nameBytes);
  return out;
}
