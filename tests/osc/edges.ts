/**
 * Packets whose sizes and lengths come from the 32-bit edges, for the property tests and the
 * differential test against liblo (tests/interop/liblo_differential_test.ts).
 *
 * Three shapes: valid packets with one size field (a blob's or a bundle element's) set to an
 * edge value; OSC-looking messages (an address, a random type tag string, then 32-bit words
 * drawn from the edges), which is how the `/a ,bsih 0x7ffffffd` crash was found; and strings
 * of edge lengths with their padding cut, extended or dirtied.
 */
import fc from "npm:fast-check@^4.10.2";
import { encodePacket } from "../../lib/osc/codec.ts";
import { packet } from "./arbitrary.ts";

/** 32-bit values at the edges: small sizes, around 2^31 and around 2^32. */
export const EDGE_UINT32: readonly number[] = [
  0,
  1,
  2,
  3,
  4,
  5,
  7,
  8,
  12,
  16,
  0x7ffffffc,
  0x7ffffffd,
  0x7ffffffe,
  0x7fffffff,
  0x80000000,
  0x80000001,
  0xfffffffc,
  0xfffffffd,
  0xfffffffe,
  0xffffffff,
];

/** Edge values that no packet here is long enough to hold: a size field set to one must be refused. */
export const HUGE_EDGES: readonly number[] = EDGE_UINT32.filter((v) => v >= 0x7ffffffc);

const BUNDLE = [0x23, 0x62, 0x75, 0x6e, 0x64, 0x6c, 0x65, 0x00];
const FIXED: Record<string, number> = { i: 4, f: 4, c: 4, r: 4, m: 4, h: 8, t: 8, d: 8 };

/**
 * Offsets of the int32 size fields of a valid packet: bundle element sizes and blob sizes.
 * A walker of its own, written for the tests, so that it does not share the code under test.
 */
export function sizeFields(bytes: Uint8Array, start = 0, end = bytes.length, out: number[] = []): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (BUNDLE.every((b, i) => bytes[start + i] === b)) {
    for (let pos = start + 16; pos < end;) {
      out.push(pos);
      const size = view.getUint32(pos);
      sizeFields(bytes, pos + 4, pos + 4 + size, out);
      pos += 4 + size;
    }
    return out;
  }
  const stringEnd = (at: number) => at + Math.floor((bytes.indexOf(0, at) - at) / 4) * 4 + 4;
  const tags = stringEnd(start);
  let pos = stringEnd(tags);
  for (let i = tags + 1; bytes[i] !== 0; i++) {
    const tag = String.fromCharCode(bytes[i]!);
    if (tag === "s" || tag === "S") pos = stringEnd(pos);
    else if (tag === "b") {
      out.push(pos);
      pos += 4 + Math.ceil(view.getUint32(pos) / 4) * 4;
    } else pos += FIXED[tag] ?? 0;
  }
  return out;
}

const word = (value: number): number[] => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return [...out];
};

/** A valid packet with one size field set to an edge value (or to its original value plus an edge). */
export const sizeAtEdge: fc.Arbitrary<{ bytes: Uint8Array; value: number }> = fc.tuple(
  packet.map(encodePacket).filter((b) => sizeFields(b).length > 0),
  fc.nat(),
  fc.constantFrom(...EDGE_UINT32),
  fc.boolean(),
).map(([original, pick, edge, relative]) => {
  const bytes = original.slice();
  const fields = sizeFields(bytes);
  const at = fields[pick % fields.length]!;
  const old = new DataView(bytes.buffer).getUint32(at);
  const value = relative ? (old + edge) % 2 ** 32 : edge;
  bytes.set(word(value), at);
  return { bytes, value };
});

/** OSC-looking messages: "/a", a random type tag string, then 0 to 6 words from the edges or at random. */
export const oscLikeMessage: fc.Arbitrary<Uint8Array> = fc.tuple(
  fc.constantFrom("/a", "/oscrouter/ping", "/oscrouter/private", "a", ""),
  fc.array(fc.constantFrom(..."ifsbhtdScrmTFNI[]x"), { maxLength: 6 }),
  fc.array(fc.oneof(fc.constantFrom(...EDGE_UINT32), fc.nat({ max: 2 ** 32 - 1 }), fc.constant(0x2f610000)), {
    maxLength: 6,
  }),
).map(([address, tags, words]) => {
  const ascii = (text: string) => {
    const out = new Uint8Array(Math.floor(text.length / 4) * 4 + 4);
    out.set(new TextEncoder().encode(text));
    return out;
  };
  return Uint8Array.from([...ascii(address), ...ascii("," + tags.join("")), ...words.flatMap(word)]);
});

/** Messages with one string argument of 0 to 9 bytes, its padding right, cut, extended or not NUL. */
export const stringAtEdge: fc.Arbitrary<Uint8Array> = fc.tuple(
  fc.integer({ min: 0, max: 9 }),
  fc.constantFrom("right", "cut", "extended", "dirty"),
).map(([length, padding]) => {
  const text = Array.from({ length }, (_, i) => 0x61 + i);
  const pad = 4 - (length % 4);
  const body = [...text, ...new Array(pad).fill(0)];
  if (padding === "cut") body.length -= 1;
  if (padding === "extended") body.push(0, 0, 0, 0);
  if (padding === "dirty" && pad > 1) body[body.length - 1] = 0x20;
  const head = [0x2f, 0x61, 0, 0, 0x2c, 0x73, 0, 0];
  const bytes = [...head, ...body];
  while (bytes.length % 4 !== 0) bytes.push(0x61); // keep the packet a multiple of 4 (the cut shows inside)
  return Uint8Array.from(bytes);
});

/** Every edge shape, and plain mutations of valid packets. */
export const edgePacket: fc.Arbitrary<Uint8Array> = fc.oneof(
  sizeAtEdge.map((m) => m.bytes),
  oscLikeMessage,
  stringAtEdge,
  fc.tuple(packet.map(encodePacket), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, value]) => {
    const out = bytes.slice();
    out[at % out.length] = value;
    return out;
  }),
);

/** Every argument of every message of a valid packet: its type tag and where its payload starts. */
export function argumentsOf(bytes: Uint8Array, start = 0, end = bytes.length): { tag: string; at: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (BUNDLE.every((b, i) => bytes[start + i] === b)) {
    const out: { tag: string; at: number }[] = [];
    for (let pos = start + 16; pos < end;) {
      const size = view.getUint32(pos);
      out.push(...argumentsOf(bytes, pos + 4, pos + 4 + size));
      pos += 4 + size;
    }
    return out;
  }
  const stringEnd = (at: number) => at + Math.floor((bytes.indexOf(0, at) - at) / 4) * 4 + 4;
  const tags = stringEnd(start);
  let pos = stringEnd(tags);
  const out: { tag: string; at: number }[] = [];
  for (let i = tags + 1; bytes[i] !== 0; i++) {
    const tag = String.fromCharCode(bytes[i]!);
    out.push({ tag, at: pos });
    if (tag === "s" || tag === "S") pos = stringEnd(pos);
    else if (tag === "b") pos += 4 + Math.ceil(view.getUint32(pos) / 4) * 4;
    else pos += FIXED[tag] ?? 0;
  }
  return out;
}

/** Whether float32 bits are a signalling NaN (all exponent bits, quiet bit clear, payload not 0). */
export function isSignallingNaN32(bits: number): boolean {
  return Math.floor(bits / 0x800000) % 0x100 === 0xff && bits % 0x800000 !== 0 && bits % 0x800000 < 0x400000;
}

/** Whether float64 bits (high and low words) are a signalling NaN: V8 quiets those too. */
export function isSignallingNaN64(high: number, low: number): boolean {
  const exponent = Math.floor(high / 0x100000) % 0x800;
  const mantissaHigh = high % 0x100000;
  return exponent === 0x7ff && mantissaHigh < 0x80000 && (mantissaHigh !== 0 || low !== 0);
}

/**
 * The packet as a decode and encode give it back: a JavaScript number cannot hold a signalling
 * NaN (V8 sets the quiet bit when it widens a float32, and when it reads a float64 one), so an `f`
 * or a `d` holding one comes back quiet.
 * The only bytes `encode(decode(x))` may change; the router forwards bytes and never does this.
 */
export function quietNaNs(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (const { tag, at } of argumentsOf(out)) {
    if (tag === "f" && isSignallingNaN32(view.getUint32(at))) view.setUint32(at, view.getUint32(at) + 0x400000);
    if (tag === "d" && isSignallingNaN64(view.getUint32(at), view.getUint32(at + 4))) {
      view.setUint32(at, view.getUint32(at) + 0x80000);
    }
  }
  return out;
}

/**
 * Every message "/a" with type tags (i|s|none) b (up to three of i s d T), a blob size from the
 * edges and 0 to 3 words after it (zeros, or "/a\0\0"): the family of the 16-byte crash
 * `/a ,bsih 0x7ffffffd`, enumerated rather than left to chance (14,280 packets).
 */
export function blobEdgeFamily(): { bytes: Uint8Array; blobSize: number }[] {
  const sizes = [1, 4, 0x7ffffffc, 0x7ffffffd, 0x7ffffffe, 0x7fffffff, 0x80000000, 0xffffffff];
  const suffixes = [""];
  for (let length = 1; length <= 3; length++) {
    for (const s of suffixes.filter((x) => x.length === length - 1)) for (const t of "isdT") suffixes.push(s + t);
  }
  const out: { bytes: Uint8Array; blobSize: number }[] = [];
  for (const prefix of ["", "i", "s"]) {
    for (const suffix of suffixes) {
      const tags = new TextEncoder().encode("," + prefix + "b" + suffix);
      const tagBytes = Math.floor(tags.length / 4) * 4 + 4;
      const prefixBytes = prefix === "" ? 0 : 4; // an i of 0, or the string "" (one word of NULs)
      for (const size of sizes) {
        for (let words = 0; words <= 3; words++) {
          for (const filler of words === 0 ? [0] : [0, 0x2f610000]) {
            const bytes = new Uint8Array(4 + tagBytes + prefixBytes + 4 + 4 * words);
            const view = new DataView(bytes.buffer);
            bytes.set([0x2f, 0x61], 0);
            bytes.set(tags, 4);
            view.setUint32(4 + tagBytes + prefixBytes, size);
            for (let w = 0; w < words; w++) view.setUint32(bytes.length - 4 * (w + 1), filler);
            out.push({ bytes, blobSize: size });
          }
        }
      }
    }
  }
  return out;
}
