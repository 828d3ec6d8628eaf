/**
 * `/oscrouter/private target key args...` rewritten as `/oscrouter/private sender key args...`.
 *
 * @module
 */

import { OscDecodeError } from "../osc/errors.ts";
import { skipArgument, skipString, stringSize, TAG_STRING, tagKind } from "../osc/type_tags.ts";

/** The address of a private message. */
export const PRIVATE_ADDRESS = "/oscrouter/private";

const COMMA = 0x2c;
const SMALL_S = 0x73;
const CAPITAL_S = 0x53;
const utf8 = new TextEncoder();

/**
 * Replaces a private message's first argument (the target) by the sender's name,
 * at the byte level: every other byte stays as the sender wrote it (NaN payloads,
 * `S` tags and all). A numeric target (Pd) becomes an `s` argument; an `S` stays `S`.
 *
 * Only the first argument is read: the rest is copied as it is (call `scanPacket` first).
 *
 * @param packet a valid private message whose first argument is a string or a number
 * @param senderName the sender's user name
 * @returns the rewritten packet
 * @throws {OscDecodeError} if the first argument is missing, not a string or a number, or truncated
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
  const end = packet.length;
  const tags = skipString(packet, 0, end);
  if (tags >= end || packet[tags] !== COMMA) throw new OscDecodeError("missing type tag string", tags);
  const argsStart = skipString(packet, tags, end);
  const tag = packet[tags + 1]!;
  const kind = tagKind(tag);
  if (kind !== TAG_STRING && kind !== 4 && kind !== 8) {
    throw new OscDecodeError("a private message's first argument must be a string or a number", tags + 1);
  }
  const firstArgEnd = skipArgument(packet, tag, argsStart, end);
  const name = utf8.encode(senderName);
  const nameBytes = stringSize(name.length);
  const rest = packet.subarray(firstArgEnd);
  const out = new Uint8Array(argsStart + nameBytes + rest.length); // fresh bytes are zero: the name's NUL padding
  out.set(packet.subarray(0, argsStart));
  if (tag !== CAPITAL_S) out[tags + 1] = SMALL_S;
  out.set(name, argsStart);
  out.set(rest, argsStart + nameBytes);
  return out;
}
