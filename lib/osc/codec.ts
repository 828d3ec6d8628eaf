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
import type { OscArg, OscBundle, OscMessage, OscPacket } from "./types.ts";
import { readInt32, scanPacket, skipString } from "./validate.ts";

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

const HASH = 0x23;

function readString(bytes: Uint8Array, offset: number, decoder: TextDecoder): string {
  const nul = bytes.indexOf(0, offset);
  try {
    return decoder.decode(bytes.subarray(offset, nul));
  } catch {
    throw new OscDecodeError("string is not valid UTF-8", offset);
  }
}

/** Reads one argument's payload; returns the value and the offset after it. */
type Reader = (bytes: Uint8Array, view: DataView, pos: number, strings: TextDecoder) => [OscArg, number];

/** The codec's table: one reader per type tag (osc.js style), arrays handled apart. */
const READERS: Record<string, Reader> = {
  i: (_b, v, p) => [{ type: "i", value: v.getInt32(p) }, p + 4],
  f: (_b, v, p) => [{ type: "f", value: v.getFloat32(p) }, p + 4],
  d: (_b, v, p) => [{ type: "d", value: v.getFloat64(p) }, p + 8],
  h: (_b, v, p) => [{ type: "h", value: v.getBigInt64(p) }, p + 8],
  t: (_b, v, p) => [{ type: "t", value: v.getBigUint64(p) }, p + 8],
  c: (_b, v, p) => [{ type: "c", value: v.getUint32(p) }, p + 4],
  r: (_b, v, p) => [{ type: "r", value: v.getUint32(p) }, p + 4],
  m: (b, _v, p) => [{ type: "m", value: b.slice(p, p + 4) }, p + 4],
  s: (b, _v, p, d) => [{ type: "s", value: readString(b, p, d) }, skipString(b, p, b.length)],
  S: (b, _v, p, d) => [{ type: "S", value: readString(b, p, d) }, skipString(b, p, b.length)],
  b: (b, _v, p) => {
    const size = readInt32(b, p);
    return [{ type: "b", value: b.slice(p + 4, p + 4 + size) }, p + 4 + ((size + 3) & ~3)];
  },
  T: (_b, _v, p) => [{ type: "T" }, p],
  F: (_b, _v, p) => [{ type: "F" }, p],
  N: (_b, _v, p) => [{ type: "N" }, p],
  I: (_b, _v, p) => [{ type: "I" }, p],
};

function decodeMessage(bytes: Uint8Array, view: DataView, start: number, end: number, d: TextDecoder): OscMessage {
  const packet = bytes.subarray(0, end);
  const address = readString(packet, start, d);
  const tags = skipString(packet, start, end);
  let pos = skipString(packet, tags, end);
  const stack: OscArg[][] = [[]];
  for (let i = tags + 1; packet[i] !== 0; i++) {
    const tag = String.fromCharCode(packet[i]!);
    const top = stack[stack.length - 1]!;
    if (tag === "[") {
      const array: OscArg[] = [];
      top.push({ type: "[", value: array });
      stack.push(array);
    } else if (tag === "]") {
      stack.pop();
    } else {
      const [arg, next] = READERS[tag]!(packet, view, pos, d);
      top.push(arg);
      pos = next;
    }
  }
  return { address, args: stack[0]! };
}

function decodeElement(bytes: Uint8Array, view: DataView, start: number, end: number, d: TextDecoder): OscPacket {
  if (bytes[start] !== HASH) return decodeMessage(bytes, view, start, end, d);
  const bundle: OscBundle = { timetag: view.getBigUint64(start + 8), elements: [] };
  let pos = start + 16;
  while (pos < end) {
    const size = readInt32(bytes, pos);
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
    this.bytes((encoded.length + 4) & ~3).set(encoded); // fresh space is zeroed: the NUL padding
  }
  blob(data: Uint8Array): void {
    this.int32(data.length);
    this.bytes((data.length + 3) & ~3).set(data);
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
    w.patchInt32(sizeAt, w.length - start);
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
