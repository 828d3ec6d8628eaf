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
 * Reads a big-endian int32 at `offset`.
 *
 * @param bytes the buffer
 * @param offset where the int32 starts (caller checked the bounds)
 * @returns the signed 32-bit value
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readInt32 } from "./validate.ts";
 * assert.ok(readInt32(new Uint8Array([0xff, 0xff, 0xff, 0xfe]), 0) === -2);
 * ```
 */
export function readInt32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) |
    (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
}

/**
 * Skips an OSC string (NUL-terminated, NUL-padded to 4 bytes) that starts at
 * `offset` and must end by `end`.
 *
 * @param bytes the packet
 * @param offset where the string starts
 * @param end where the enclosing packet or element ends
 * @returns the offset just past the padding
 * @throws {OscDecodeError} when there is no NUL before `end` or the padding is not NUL
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { skipString } from "./validate.ts";
 * const b = new TextEncoder().encode("/ab\0");
 * assert.ok(skipString(b, 0, b.length) === 4);
 * ```
 */
export function skipString(bytes: Uint8Array, offset: number, end: number): number {
  const nul = bytes.indexOf(0, offset);
  if (nul === -1 || nul >= end) throw new OscDecodeError("string without NUL terminator", offset);
  const next = (nul + 4) & ~3;
  if (next > end) throw new OscDecodeError("string padding runs past the end", offset);
  for (let i = nul + 1; i < next; i++) {
    if (bytes[i] !== 0) throw new OscDecodeError("string padding is not NUL", i);
  }
  return next;
}

/**
 * Skips an OSC blob (int32 size, bytes, NUL padding to 4) at `offset`.
 *
 * @param bytes the packet
 * @param offset where the blob's size field starts
 * @param end where the enclosing packet or element ends
 * @returns the offset just past the padding
 * @throws {OscDecodeError} when the size is negative or runs past `end`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { skipBlob } from "./validate.ts";
 * const b = new Uint8Array([0, 0, 0, 1, 7, 0, 0, 0]);
 * assert.ok(skipBlob(b, 0, b.length) === 8);
 * ```
 */
export function skipBlob(bytes: Uint8Array, offset: number, end: number): number {
  if (offset + 4 > end) throw new OscDecodeError("truncated blob size", offset);
  const size = readInt32(bytes, offset);
  if (size < 0) throw new OscDecodeError(`negative blob size ${size}`, offset);
  const data = offset + 4;
  const next = data + ((size + 3) & ~3);
  if (next > end) throw new OscDecodeError(`blob of ${size} bytes runs past the end`, offset);
  for (let i = data + size; i < next; i++) {
    if (bytes[i] !== 0) throw new OscDecodeError("blob padding is not NUL", i);
  }
  return next;
}

/** What each type tag byte means: a payload size >= 0, or one of the negative kinds below. */
const TAG_KIND = new Int8Array(256).fill(-1); // -1: unknown tag
const STRING = -2, BLOB = -3, OPEN = -4, CLOSE = -5;
for (const [tag, size] of Object.entries({ i: 4, f: 4, c: 4, r: 4, m: 4, h: 8, t: 8, d: 8, T: 0, F: 0, N: 0, I: 0 })) {
  TAG_KIND[tag.charCodeAt(0)] = size;
}
TAG_KIND[0x73] = STRING; // s
TAG_KIND[0x53] = STRING; // S
TAG_KIND[0x62] = BLOB; // b
TAG_KIND[0x5b] = OPEN; // [
TAG_KIND[0x5d] = CLOSE; // ]

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
export function checkArguments(bytes: Uint8Array, tags: number, end: number): number {
  const argsStart = skipString(bytes, tags, end);
  let pos = argsStart;
  let depth = 0;
  for (let i = tags + 1;; i++) {
    const tag = bytes[i]!;
    if (tag === 0) break;
    const kind = TAG_KIND[tag]!;
    if (kind >= 0) {
      pos += kind;
      if (pos > end) throw new OscDecodeError(`truncated argument '${String.fromCharCode(tag)}'`, pos - kind);
    } else if (kind === STRING) {
      if (pos >= end) throw new OscDecodeError("truncated string argument", pos);
      pos = skipString(bytes, pos, end);
    } else if (kind === BLOB) {
      pos = skipBlob(bytes, pos, end);
    } else if (kind === OPEN) {
      if (++depth > MAX_ARRAY_DEPTH) throw new OscDecodeError("arrays nested too deep", i);
    } else if (kind === CLOSE) {
      if (--depth < 0) throw new OscDecodeError("']' without '['", i);
    } else {
      throw new OscDecodeError(`unknown type tag '${String.fromCharCode(tag)}'`, i);
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMessage } from "./validate.ts";
 * const b = new TextEncoder().encode("/a\0\0,\0\0\0");
 * assert.ok(checkMessage(b, 0, b.length) === 4);
 * ```
 */
export function checkMessage(bytes: Uint8Array, start: number, end: number): number {
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
    if (pos + 4 > end) throw new OscDecodeError("truncated bundle element size", pos);
    const size = readInt32(bytes, pos);
    const elementStart = pos + 4;
    if (size <= 0 || size % 4 !== 0) {
      throw new OscDecodeError(`bundle element size ${size} is not a positive multiple of 4`, pos);
    }
    if (elementStart + size > end) {
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
