/**
 * Fast, allocation-free validation of OSC packets for the router's hot path.
 *
 * `scanPacket` checks everything `decodePacket` checks about the structure of a
 * packet (address, type tags, argument sizes, NUL padding, bundle element sizes,
 * nesting) without building strings or argument objects, and says whether the
 * packet is a bundle and whether it carries a router control message
 * (an address under `/oscrouter/`). It does not check that strings are valid
 * UTF-8: the router forwards bytes, and receivers decode them.
 *
 * @module
 */

import { OscDecodeError } from "./errors.ts";
import {
  readInt32,
  skipArgument,
  skipString,
  TAG_ARRAY_CLOSE,
  TAG_ARRAY_OPEN,
  TAG_UNKNOWN,
  tagKind,
} from "./type_tags.ts";

export { readInt32, skipBlob, skipString } from "./type_tags.ts";

/** Bundles may nest at most this deep (a bundle directly in a packet is depth 1). */
export const MAX_BUNDLE_DEPTH = 32;
/** Arrays in type tags may nest at most this deep. */
export const MAX_ARRAY_DEPTH = 32;

/** `scanPacket` flag: the packet is a bundle. */
export const PACKET_BUNDLE = 1;
/** `scanPacket` flag: the packet is, or contains, a message under `/oscrouter/`. */
export const PACKET_CONTROL = 2;

const SLASH = 0x2f;
const HASH = 0x23;
const COMMA = 0x2c;
const BUNDLE_TAG = [0x23, 0x62, 0x75, 0x6e, 0x64, 0x6c, 0x65, 0x00]; // "#bundle\0"
const CONTROL_PREFIX = [0x2f, 0x6f, 0x73, 0x63, 0x72, 0x6f, 0x75, 0x74, 0x65, 0x72]; // "/oscrouter"

/**
 * Checks the arguments of a message whose type tag string starts at `tags`
 * (at its comma), and returns where the arguments start and end. Shared by the
 * validator and the decoder so both accept exactly the same packets.
 *
 * @param bytes the packet
 * @param tags offset of the type tag string's comma
 * @param end end of the message
 * @returns offset just past the type tag string (where arguments start)
 * @throws {OscDecodeError} on any structural error
 */
function checkArguments(bytes: Uint8Array, tags: number, end: number): number {
  const argsStart = skipString(bytes, tags, end);
  let pos = argsStart;
  let depth = 0;
  for (let i = tags + 1;; i++) {
    const tag = bytes[i]!;
    if (tag === 0) break;
    const kind = tagKind(tag);
    if (kind >= 0) {
      // Fixed-size payloads, the common case, inline: the size comes from the table.
      if (kind > end - pos) throw new OscDecodeError(`truncated argument '${String.fromCharCode(tag)}'`, pos);
      pos += kind;
    } else if (kind === TAG_ARRAY_OPEN) {
      if (++depth > MAX_ARRAY_DEPTH) throw new OscDecodeError("arrays nested too deep", i);
    } else if (kind === TAG_ARRAY_CLOSE) {
      if (--depth < 0) throw new OscDecodeError("']' without '['", i);
    } else if (kind === TAG_UNKNOWN) {
      throw new OscDecodeError(`unknown type tag '${String.fromCharCode(tag)}'`, i);
    } else {
      pos = skipArgument(bytes, tag, pos, end);
    }
  }
  if (depth !== 0) throw new OscDecodeError("'[' without ']'", tags);
  if (pos !== end) throw new OscDecodeError(`${end - pos} bytes after the last argument`, pos);
  return argsStart;
}

/**
 * Checks a message between `start` and `end` and returns the offset of its
 * type tag string (the comma).
 *
 * @param bytes the packet
 * @param start where the message starts (its `/`)
 * @param end where the message ends
 * @returns offset of the type tag string's comma
 * @throws {OscDecodeError} on any structural error
 */
function checkMessage(bytes: Uint8Array, start: number, end: number): number {
  if (bytes[start] !== SLASH) throw new OscDecodeError("address does not begin with '/'", start);
  const tags = skipString(bytes, start, end);
  if (tags >= end) throw new OscDecodeError("missing type tag string", tags);
  if (bytes[tags] !== COMMA) throw new OscDecodeError("type tag string does not begin with ','", tags);
  checkArguments(bytes, tags, end);
  return tags;
}

/**
 * Tells whether the message at `start` is addressed under `/oscrouter`
 * (the address is `/oscrouter` or begins with `/oscrouter/`).
 *
 * @param bytes the packet
 * @param start where the message's address starts
 * @returns true for a router control address
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isControlAddress } from "./validate.ts";
 * const enc = new TextEncoder();
 * assert.ok(isControlAddress(enc.encode("/oscrouter/ping\0"), 0));
 * assert.ok(!isControlAddress(enc.encode("/oscrouterx\0\0\0\0\0"), 0));
 * ```
 */
export function isControlAddress(bytes: Uint8Array, start: number): boolean {
  for (let i = 0; i < CONTROL_PREFIX.length; i++) {
    if (bytes[start + i] !== CONTROL_PREFIX[i]) return false;
  }
  const next = bytes[start + CONTROL_PREFIX.length];
  return next === SLASH || next === 0;
}

function checkBundle(bytes: Uint8Array, start: number, end: number, depth: number): number {
  if (depth > MAX_BUNDLE_DEPTH) throw new OscDecodeError("bundles nested too deep", start);
  if (end - start < 16) throw new OscDecodeError("bundle shorter than its header", start);
  for (let i = 0; i < 8; i++) {
    if (bytes[start + i] !== BUNDLE_TAG[i]) throw new OscDecodeError("bundle does not begin with '#bundle'", start);
  }
  let flags = PACKET_BUNDLE;
  let pos = start + 16;
  while (pos < end) {
    if (end - pos < 4) throw new OscDecodeError("truncated bundle element size", pos);
    const size = readInt32(bytes, pos);
    const elementStart = pos + 4;
    if (size <= 0 || size % 4 !== 0) {
      throw new OscDecodeError(`bundle element size ${size} is not a positive multiple of 4`, pos);
    }
    if (size > end - elementStart) {
      throw new OscDecodeError(`bundle element of ${size} bytes overruns its bundle`, pos);
    }
    flags |= checkElement(bytes, elementStart, elementStart + size, depth + 1);
    pos = elementStart + size;
  }
  return flags;
}

function checkElement(bytes: Uint8Array, start: number, end: number, depth: number): number {
  const first = bytes[start];
  if (first === HASH) return checkBundle(bytes, start, end, depth);
  checkMessage(bytes, start, end);
  return isControlAddress(bytes, start) ? PACKET_CONTROL : 0;
}

/**
 * Validates a whole packet without allocating, and classifies it.
 *
 * @param bytes one OSC packet (a message or a bundle)
 * @returns flags: `PACKET_BUNDLE` if it is a bundle, `PACKET_CONTROL` if it is or contains
 *   a message under `/oscrouter/`; 0 for a plain message
 * @throws {OscDecodeError} if the packet is not valid OSC
 *
 * @example Classifying packets
 * ```ts
 * import assert from "node:assert/strict";
 * import { PACKET_CONTROL, scanPacket } from "./validate.ts";
 * import { encodeMessage } from "./codec.ts";
 * assert.ok(scanPacket(encodeMessage({ address: "/note", args: [] })) === 0);
 * assert.ok(scanPacket(encodeMessage({ address: "/oscrouter/ping", args: [] })) === PACKET_CONTROL);
 * ```
 */
export function scanPacket(bytes: Uint8Array): number {
  if (bytes.length === 0) throw new OscDecodeError("empty packet", 0);
  if (bytes.length % 4 !== 0) throw new OscDecodeError(`packet size ${bytes.length} is not a multiple of 4`, 0);
  return checkElement(bytes, 0, bytes.length, 1);
}

/**
 * Walks the messages of a validated bundle in order, nested bundles depth-first,
 * as views into the bundle's bytes (no copy).
 *
 * @param bundle a packet that `scanPacket` accepted as a bundle
 * @returns an iterator over the messages' bytes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bundleMessages } from "./validate.ts";
 * import { encodeBundle } from "./codec.ts";
 * const b = encodeBundle({ timetag: 1n, elements: [{ address: "/a", args: [] }, { timetag: 1n, elements: [{ address: "/b", args: [] }] }] });
 * assert.ok([...bundleMessages(b)].length === 2);
 * ```
 */
export function* bundleMessages(bundle: Uint8Array): Generator<Uint8Array> {
  let pos = 16;
  while (pos + 4 <= bundle.length) {
    const size = readInt32(bundle, pos);
    const element = bundle.subarray(pos + 4, pos + 4 + size);
    if (element[0] === HASH) yield* bundleMessages(element);
    else yield element;
    pos += 4 + size;
  }
}
