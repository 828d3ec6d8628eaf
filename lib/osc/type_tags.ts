/**
 * The one table of OSC type tags and the layout rules of their arguments: how many bytes
 * each takes, how strings and blobs are padded, how sizes are read. The validator, the
 * decoder, the control-message reader and the router's register and private-message code
 * all use this module, so an argument's size is known in one place.
 *
 * Sizes and offsets are computed with ordinary arithmetic on numbers, never with bitwise
 * operators: those work on 32-bit signed integers and wrap for values above 2^31 − 1
 * (`(0x7ffffffd + 3) & ~3` is negative). Every size read from a packet is compared with
 * the bytes that remain before anything is added to it.
 *
 * @module
 */

import { OscDecodeError } from "./errors.ts";

/** `tagKind`: the tag is not an OSC type tag. */
export const TAG_UNKNOWN: -1 = -1;
/** `tagKind`: a string (`s`, `S`): NUL-terminated, NUL-padded to a multiple of 4 bytes. */
export const TAG_STRING: -2 = -2;
/** `tagKind`: a blob (`b`): int32 size, bytes, NUL padding to a multiple of 4 bytes. */
export const TAG_BLOB: -3 = -3;
/** `tagKind`: `[`, the start of an array (no payload). */
export const TAG_ARRAY_OPEN: -4 = -4;
/** `tagKind`: `]`, the end of an array (no payload). */
export const TAG_ARRAY_CLOSE: -5 = -5;

/**
 * The type tags whose payload has a fixed size, and that size in bytes (OSC 1.0 and 1.1).
 */
const FIXED_SIZE_TAGS: Readonly<Record<string, number>> = Object.freeze({
  i: 4,
  f: 4,
  c: 4,
  r: 4,
  m: 4,
  h: 8,
  t: 8,
  d: 8,
  T: 0,
  F: 0,
  N: 0,
  I: 0,
});

const KINDS = new Int8Array(256).fill(TAG_UNKNOWN);
for (const [tag, size] of Object.entries(FIXED_SIZE_TAGS)) KINDS[tag.charCodeAt(0)] = size;
KINDS[0x73] = TAG_STRING; // s
KINDS[0x53] = TAG_STRING; // S
KINDS[0x62] = TAG_BLOB; // b
KINDS[0x5b] = TAG_ARRAY_OPEN; // [
KINDS[0x5d] = TAG_ARRAY_CLOSE; // ]

/**
 * What a type tag byte means: its payload size in bytes (0, 4 or 8) when fixed, else
 * `TAG_STRING`, `TAG_BLOB`, `TAG_ARRAY_OPEN`, `TAG_ARRAY_CLOSE` or `TAG_UNKNOWN`.
 *
 * @param tag the tag's byte (e.g. `0x69` for `i`)
 * @returns the size, or a negative kind
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TAG_BLOB, TAG_UNKNOWN, tagKind } from "./type_tags.ts";
 * assert.ok(tagKind(0x69) === 4);
 * assert.ok(tagKind(0x62) === TAG_BLOB);
 * assert.ok(tagKind(0x78) === TAG_UNKNOWN);
 * ```
 */
export function tagKind(tag: number): number {
  return tag >= 0 && tag < 256 ? KINDS[tag]! : TAG_UNKNOWN;
}

/**
 * Reads a big-endian uint32 at `offset`, without bitwise operators (exact for every value).
 *
 * @param bytes the buffer
 * @param offset where the uint32 starts (the caller checked that 4 bytes are there)
 * @returns a value from 0 to 2^32 − 1
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readUint32 } from "./type_tags.ts";
 * assert.ok(readUint32(new Uint8Array([0xff, 0xff, 0xff, 0xfe]), 0) === 0xfffffffe);
 * ```
 */
export function readUint32(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! * 0x1000000 + bytes[offset + 1]! * 0x10000 + bytes[offset + 2]! * 0x100 + bytes[offset + 3]!;
}

/**
 * Reads a big-endian int32 at `offset`.
 *
 * @param bytes the buffer
 * @param offset where the int32 starts (the caller checked that 4 bytes are there)
 * @returns a value from −2^31 to 2^31 − 1
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readInt32 } from "./type_tags.ts";
 * assert.ok(readInt32(new Uint8Array([0xff, 0xff, 0xff, 0xfe]), 0) === -2);
 * assert.ok(readInt32(new Uint8Array([0x7f, 0xff, 0xff, 0xff]), 0) === 2 ** 31 - 1);
 * ```
 */
export function readInt32(bytes: Uint8Array, offset: number): number {
  const value = readUint32(bytes, offset);
  return value >= 0x80000000 ? value - 0x100000000 : value;
}

/**
 * `bytes` rounded up to a multiple of 4 (exact for every size up to 2^53).
 *
 * @param bytes a size in bytes, >= 0
 * @returns the padded size
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padded4 } from "./type_tags.ts";
 * assert.deepEqual([0, 1, 4, 5, 0x7ffffffd].map(padded4), [0, 4, 4, 8, 0x80000000]);
 * ```
 */
export function padded4(bytes: number): number {
  const rest = bytes % 4;
  return rest === 0 ? bytes : bytes + 4 - rest;
}

/**
 * Bytes an OSC string of `length` bytes takes: the bytes, a NUL, and NUL padding to 4.
 *
 * @param length the string's length in bytes, without its NUL
 * @returns its size in a packet
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stringSize } from "./type_tags.ts";
 * assert.deepEqual([0, 1, 3, 4, 8].map(stringSize), [4, 4, 4, 8, 12]);
 * ```
 */
export function stringSize(length: number): number {
  return padded4(length + 1);
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
 * import { skipString } from "./type_tags.ts";
 * const b = new TextEncoder().encode("/ab\0");
 * assert.ok(skipString(b, 0, b.length) === 4);
 * ```
 */
export function skipString(bytes: Uint8Array, offset: number, end: number): number {
  if (!(offset >= 0 && offset < end && end <= bytes.length)) throw new OscDecodeError("truncated string", offset);
  const nul = bytes.indexOf(0, offset);
  if (nul === -1 || nul >= end) throw new OscDecodeError("string without NUL terminator", offset);
  const next = offset + stringSize(nul - offset);
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
 * @throws {OscDecodeError} when the size is negative, or the blob or its padding runs past
 *   `end`, or the padding is not NUL
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { skipBlob } from "./type_tags.ts";
 * const b = new Uint8Array([0, 0, 0, 1, 7, 0, 0, 0]);
 * assert.ok(skipBlob(b, 0, b.length) === 8);
 * assert.throws(() => skipBlob(new Uint8Array([0x7f, 0xff, 0xff, 0xfd, 0, 0, 0, 0]), 0, 8));
 * ```
 */
export function skipBlob(bytes: Uint8Array, offset: number, end: number): number {
  if (!(offset >= 0 && end <= bytes.length && end - offset >= 4)) {
    throw new OscDecodeError("truncated blob size", offset);
  }
  const size = readInt32(bytes, offset);
  if (size < 0) throw new OscDecodeError(`negative blob size ${size}`, offset);
  const data = offset + 4;
  // Compare the size with what remains before adding anything to it.
  if (size > end - data) throw new OscDecodeError(`blob of ${size} bytes runs past the end`, offset);
  const next = data + padded4(size);
  if (next > end) throw new OscDecodeError(`padding of a blob of ${size} bytes runs past the end`, offset);
  for (let i = data + size; i < next; i++) {
    if (bytes[i] !== 0) throw new OscDecodeError("blob padding is not NUL", i);
  }
  return next;
}

/**
 * Skips one argument's payload.
 *
 * @param bytes the packet
 * @param tag the argument's type tag byte
 * @param offset where its payload starts
 * @param end where the message ends
 * @returns the offset just past the payload (`offset` itself for `T F N I [ ]`)
 * @throws {OscDecodeError} for an unknown tag or a payload that runs past `end`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { skipArgument } from "./type_tags.ts";
 * const b = new Uint8Array(12);
 * assert.ok(skipArgument(b, 0x64, 0, b.length) === 8); // d
 * assert.ok(skipArgument(b, 0x54, 8, b.length) === 8); // T
 * assert.throws(() => skipArgument(b, 0x68, 8, b.length)); // h: 8 bytes, 4 left
 * ```
 */
export function skipArgument(bytes: Uint8Array, tag: number, offset: number, end: number): number {
  const kind = tagKind(tag);
  if (kind >= 0) {
    if (kind > end - offset) throw new OscDecodeError(`truncated argument '${String.fromCharCode(tag)}'`, offset);
    return offset + kind;
  }
  switch (kind) {
    case TAG_STRING:
      if (offset >= end) throw new OscDecodeError("truncated string argument", offset);
      return skipString(bytes, offset, end);
    case TAG_BLOB:
      return skipBlob(bytes, offset, end);
    case TAG_ARRAY_OPEN:
    case TAG_ARRAY_CLOSE:
      return offset;
    default:
      throw new OscDecodeError(`unknown type tag '${String.fromCharCode(tag)}'`, offset);
  }
}
