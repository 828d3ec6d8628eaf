/**
 * OSC 1.0 / 1.1 codec: decode and encode messages and bundles, every type tag
 * (`i f s b h t d S c r m T F N I` and arrays), nested bundles and timetags.
 *
 * Decoding validates the whole packet first (`scanPacket`), so the codec and
 * the router's fast path accept exactly the same packets; the decoder then
 * also requires strings to be valid UTF-8.
 *
 * @module
 */

import { OscDecodeError, OscEncodeError } from "./errors.ts";
import type { HeadArg, MessageHead, OscArg, OscBundle, OscMessage, OscPacket } from "./types.ts";
import {
  padded4,
  readInt32,
  readUint32,
  skipArgument,
  skipString,
  stringSize,
  TAG_ARRAY_CLOSE,
  TAG_ARRAY_OPEN,
  tagKind,
} from "./type_tags.ts";
import { scanPacket } from "./validate.ts";

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

const HASH = 0x23;
/** Strings up to this long that are ASCII are built without a TextDecoder. */
const SHORT_ASCII_BYTES = 32;
const SLASH = 0x2f;
const COMMA = 0x2c;

/** The text of the (validated) string at `offset`. */
function readString(bytes: Uint8Array, offset: number, decoder: TextDecoder): string {
  const nul = bytes.indexOf(0, offset);
  if (nul - offset <= SHORT_ASCII_BYTES) {
    // Short ASCII (addresses, names): building the string here is several times cheaper than a TextDecoder call.
    let text = "";
    let i = offset;
    for (; i < nul && bytes[i]! < 0x80; i++) text += String.fromCharCode(bytes[i]!);
    if (i === nul) return text;
  }
  try {
    return decoder.decode(bytes.subarray(offset, nul));
  } catch {
    throw new OscDecodeError("string is not valid UTF-8", offset);
  }
}

/**
 * The value of one argument whose payload starts at `pos` (the packet was validated: the
 * payload is there). How far the payload reaches is `skipArgument`'s business, not this one's.
 */
function readValue(tag: number, bytes: Uint8Array, view: DataView, pos: number, d: TextDecoder): OscArg {
  switch (tag) {
    case 0x69: // i
      return { type: "i", value: view.getInt32(pos) };
    case 0x66: // f
      return { type: "f", value: view.getFloat32(pos) };
    case 0x64: // d
      return { type: "d", value: view.getFloat64(pos) };
    case 0x68: // h
      return { type: "h", value: view.getBigInt64(pos) };
    case 0x74: // t
      return { type: "t", value: view.getBigUint64(pos) };
    case 0x63: // c
      return { type: "c", value: view.getUint32(pos) };
    case 0x72: // r
      return { type: "r", value: view.getUint32(pos) };
    case 0x6d: // m
      return { type: "m", value: bytes.slice(pos, pos + 4) };
    case 0x73: // s
      return { type: "s", value: readString(bytes, pos, d) };
    case 0x53: // S
      return { type: "S", value: readString(bytes, pos, d) };
    case 0x62: // b
      return { type: "b", value: bytes.slice(pos + 4, pos + 4 + readInt32(bytes, pos)) };
    case 0x54: // T
      return { type: "T" };
    case 0x46: // F
      return { type: "F" };
    case 0x4e: // N
      return { type: "N" };
    case 0x49: // I
      return { type: "I" };
    default:
      throw new OscDecodeError(`unknown type tag '${String.fromCharCode(tag)}'`, pos);
  }
}

/** Reads all the arguments of a validated message whose type tag string is at `tags`. */
function readArguments(bytes: Uint8Array, view: DataView, tags: number, end: number, d: TextDecoder): OscArg[] {
  let pos = skipString(bytes, tags, end);
  const stack: OscArg[][] = [[]];
  for (let i = tags + 1; bytes[i] !== 0; i++) {
    const tag = bytes[i]!;
    const top = stack[stack.length - 1]!;
    const kind = tagKind(tag);
    if (kind === TAG_ARRAY_OPEN) {
      const array: OscArg[] = [];
      top.push({ type: "[", value: array });
      stack.push(array);
    } else if (kind === TAG_ARRAY_CLOSE) {
      if (stack.length === 1) throw new OscDecodeError("']' without '['", i);
      stack.pop();
    } else {
      const next = skipArgument(bytes, tag, pos, end);
      top.push(readValue(tag, bytes, view, pos, d));
      pos = next;
    }
  }
  if (stack.length !== 1) throw new OscDecodeError("'[' without ']'", tags);
  return stack[0]!;
}

function decodeMessage(bytes: Uint8Array, view: DataView, start: number, end: number, d: TextDecoder): OscMessage {
  const address = readString(bytes, start, d);
  const tags = skipString(bytes, start, end);
  return { address, args: readArguments(bytes, view, tags, end, d) };
}

function decodeElement(bytes: Uint8Array, view: DataView, start: number, end: number, d: TextDecoder): OscPacket {
  if (bytes[start] !== HASH) return decodeMessage(bytes, view, start, end, d);
  const bundle: OscBundle = { timetag: view.getBigUint64(start + 8), elements: [] };
  let pos = start + 16;
  while (pos < end) {
    const size = readUint32(bytes, pos);
    bundle.elements.push(decodeElement(bytes, view, pos + 4, pos + 4 + size, d));
    pos += 4 + size;
  }
  return bundle;
}

/** Decoding options. */
export interface DecodeOptions {
  /**
   * What to do with a string that is not valid UTF-8: "error" (the default) throws an
   * `OscDecodeError`; "replace" decodes it with U+FFFD in place of the bad bytes (the router
   * reads control messages this way: their bytes are forwarded, not their text).
   */
  invalidUtf8?: "error" | "replace";
}

/**
 * Decodes one OSC packet.
 *
 * @param bytes the packet's bytes (a message or a bundle, size a multiple of 4)
 * @param options how to treat strings that are not valid UTF-8
 * @returns the decoded message or bundle
 * @throws {OscDecodeError} with the offset and reason if the packet is not valid OSC
 *
 * @example Decoding the OSC 1.0 specification's example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodeMessage } from "./codec.ts";
 * const bytes = encodeMessage({ address: "/oscillator/4/frequency", args: [{ type: "f", value: 440 }] });
 * assert.ok(JSON.stringify(decodePacket(bytes)) === '{"address":"/oscillator/4/frequency","args":[{"type":"f","value":440}]}');
 * ```
 */
export function decodePacket(bytes: Uint8Array, options: DecodeOptions = {}): OscPacket {
  scanPacket(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeElement(bytes, view, 0, bytes.length, options.invalidUtf8 === "replace" ? lenientDecoder : utf8Decoder);
}

/**
 * Reads a message only as far as the router needs: its address and its first `maxArgs`
 * arguments (an array among them is given by its type alone: its contents are not read).
 * What lies after them is not looked at, so the cost does not grow with the rest of the
 * message: a control message costs about what forwarding it costs, whatever it holds.
 *
 * It checks what it reads, but not the rest: call `scanPacket` on the packet first.
 *
 * @param bytes one message (not a bundle) that `scanPacket` accepted
 * @param maxArgs how many top-level arguments to read (0 for the address alone)
 * @param options how to treat strings that are not valid UTF-8
 * @returns the address, the arguments read, and whether more arguments follow them
 * @throws {OscDecodeError} if what it reads is not valid OSC
 *
 * @example A private message's target, without its payload
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage, readMessageHead } from "./codec.ts";
 * const bytes = encodeMessage({ address: "/oscrouter/private", args: [
 *   { type: "s", value: "bob" }, { type: "s", value: "key" }, { type: "b", value: new Uint8Array(1000) }] });
 * assert.deepEqual(readMessageHead(bytes, 1), {
 *   address: "/oscrouter/private", args: [{ type: "s", value: "bob" }], more: true });
 * ```
 */
export function readMessageHead(bytes: Uint8Array, maxArgs: number, options: DecodeOptions = {}): MessageHead {
  const end = bytes.length;
  if (bytes[0] !== SLASH) throw new OscDecodeError("address does not begin with '/'", 0);
  const tags = skipString(bytes, 0, end);
  if (tags >= end || bytes[tags] !== COMMA) throw new OscDecodeError("missing type tag string", tags);
  const d = options.invalidUtf8 === "replace" ? lenientDecoder : utf8Decoder;
  let view: DataView | undefined;
  let pos = skipString(bytes, tags, end);
  const args: HeadArg[] = [];
  let depth = 0;
  let i = tags + 1;
  for (; bytes[i] !== 0; i++) {
    if (depth === 0 && args.length >= maxArgs) break;
    const tag = bytes[i]!;
    const kind = tagKind(tag);
    if (kind === TAG_ARRAY_OPEN) {
      if (depth++ === 0) args.push({ type: "[" });
    } else if (kind === TAG_ARRAY_CLOSE) {
      if (--depth < 0) throw new OscDecodeError("']' without '['", i);
    } else {
      const next = skipArgument(bytes, tag, pos, end);
      if (depth === 0) {
        view ??= new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        args.push(readValue(tag, bytes, view, pos, d));
      }
      pos = next;
    }
  }
  if (depth !== 0) throw new OscDecodeError("'[' without ']'", tags);
  return { address: readString(bytes, 0, d), args, more: bytes[i] !== 0 };
}

/** A growable big-endian byte writer. */
class Writer {
  #bytes = new Uint8Array(64);
  #view = new DataView(this.#bytes.buffer);
  length = 0;

  reserve(n: number): number {
    const at = this.length;
    const needed = at + n;
    if (needed > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(needed, this.#bytes.length * 2));
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.length = needed;
    return at;
  }
  // Each setter reserves before it reads #view: reserving may grow the buffer.
  int32(v: number): void {
    const at = this.reserve(4);
    this.#view.setInt32(at, v);
  }
  uint32(v: number): void {
    const at = this.reserve(4);
    this.#view.setUint32(at, v);
  }
  float32(v: number): void {
    const at = this.reserve(4);
    this.#view.setFloat32(at, v);
  }
  float64(v: number): void {
    const at = this.reserve(8);
    this.#view.setFloat64(at, v);
  }
  int64(v: bigint): void {
    const at = this.reserve(8);
    this.#view.setBigInt64(at, v);
  }
  uint64(v: bigint): void {
    const at = this.reserve(8);
    this.#view.setBigUint64(at, v);
  }
  /** Writes an int32 at an earlier offset (a bundle element's size). */
  patchInt32(at: number, v: number): void {
    this.#view.setInt32(at, v);
  }
  bytes(n: number): Uint8Array {
    const at = this.reserve(n);
    return this.#bytes.subarray(at, this.length);
  }
  string(s: string): void {
    const encoded = utf8Encoder.encode(s);
    if (encoded.includes(0)) throw new OscEncodeError("OSC strings cannot contain NUL characters");
    this.bytes(stringSize(encoded.length)).set(encoded); // fresh space is zeroed: the NUL padding
  }
  blob(data: Uint8Array): void {
    if (data.length > 0x7fffffff) throw new OscEncodeError(`a blob of ${data.length} bytes does not fit an int32 size`);
    this.int32(data.length);
    this.bytes(padded4(data.length)).set(data);
  }
  result(): Uint8Array {
    return this.#bytes.slice(0, this.length);
  }
}

function checkInteger(arg: OscArg, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OscEncodeError(`argument '${arg.type}' must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function writeArg(w: Writer, arg: OscArg, tags: string[]): void {
  tags.push(arg.type);
  switch (arg.type) {
    case "i":
      w.int32(checkInteger(arg, arg.value, -(2 ** 31), 2 ** 31 - 1));
      break;
    case "f":
      w.float32(arg.value);
      break;
    case "d":
      w.float64(arg.value);
      break;
    case "h":
      if (arg.value < -(2n ** 63n) || arg.value >= 2n ** 63n) {
        throw new OscEncodeError("argument 'h' is out of int64 range");
      }
      w.int64(arg.value);
      break;
    case "t":
      if (arg.value < 0n || arg.value >= 2n ** 64n) throw new OscEncodeError("argument 't' is out of uint64 range");
      w.uint64(arg.value);
      break;
    case "c":
    case "r":
      w.uint32(checkInteger(arg, arg.value, 0, 2 ** 32 - 1));
      break;
    case "m":
      if (arg.value.length !== 4) throw new OscEncodeError("argument 'm' must be 4 bytes");
      w.bytes(4).set(arg.value);
      break;
    case "s":
    case "S":
      w.string(arg.value);
      break;
    case "b":
      w.blob(arg.value);
      break;
    case "T":
    case "F":
    case "N":
    case "I":
      break;
    case "[":
      for (const inner of arg.value) writeArg(w, inner, tags);
      tags.push("]");
      break;
  }
}

function writeMessage(w: Writer, message: OscMessage): void {
  if (!message.address.startsWith("/")) {
    throw new OscEncodeError(`OSC address must begin with '/', got '${message.address}'`);
  }
  w.string(message.address);
  const body = new Writer();
  const tags = [","];
  for (const arg of message.args) writeArg(body, arg, tags);
  w.string(tags.join(""));
  w.bytes(body.length).set(body.result());
}

function writeBundle(w: Writer, bundle: OscBundle): void {
  w.string("#bundle");
  if (bundle.timetag < 0n || bundle.timetag >= 2n ** 64n) throw new OscEncodeError("timetag is out of uint64 range");
  w.uint64(bundle.timetag);
  for (const element of bundle.elements) {
    const sizeAt = w.reserve(4);
    const start = w.length;
    writePacket(w, element);
    const size = w.length - start;
    if (size > 0x7fffffff) throw new OscEncodeError(`a bundle element of ${size} bytes does not fit an int32 size`);
    w.patchInt32(sizeAt, size);
  }
}

function writePacket(w: Writer, packet: OscPacket): void {
  if ("timetag" in packet) writeBundle(w, packet);
  else writeMessage(w, packet);
}

/**
 * Encodes a message.
 *
 * @param message address and arguments
 * @returns the packet's bytes
 * @throws {OscEncodeError} if a value cannot be encoded (e.g. an `i` outside int32)
 *
 * @example The OSC 1.0 specification's second example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage } from "./codec.ts";
 * const bytes = encodeMessage({ address: "/foo", args: [
 *   { type: "i", value: 1000 }, { type: "i", value: -1 }, { type: "s", value: "hello" },
 *   { type: "f", value: 1.234 }, { type: "f", value: 5.678 },
 * ] });
 * assert.ok(bytes.length === 40);
 * ```
 */
export function encodeMessage(message: OscMessage): Uint8Array {
  const w = new Writer();
  writeMessage(w, message);
  return w.result();
}

/**
 * Encodes a bundle, nested bundles included.
 *
 * @param bundle timetag and elements
 * @returns the packet's bytes
 * @throws {OscEncodeError} if a value cannot be encoded
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBundle } from "./codec.ts";
 * const bytes = encodeBundle({ timetag: 1n, elements: [{ address: "/a", args: [] }] });
 * assert.ok(bytes.length === 16 + 4 + 8);
 * ```
 */
export function encodeBundle(bundle: OscBundle): Uint8Array {
  const w = new Writer();
  writeBundle(w, bundle);
  return w.result();
}

/**
 * Encodes a message or a bundle.
 *
 * @param packet the packet
 * @returns its bytes
 * @throws {OscEncodeError} if a value cannot be encoded
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodePacket } from "./codec.ts";
 * const packet = { address: "/n", args: [{ type: "N" as const }] };
 * assert.ok(JSON.stringify(decodePacket(encodePacket(packet))) === JSON.stringify(packet));
 * ```
 */
export function encodePacket(packet: OscPacket): Uint8Array {
  const w = new Writer();
  writePacket(w, packet);
  return w.result();
}
