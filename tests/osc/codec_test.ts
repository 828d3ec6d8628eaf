import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { decodePacket, encodeBundle, encodeMessage, encodePacket } from "../../lib/osc/codec.ts";
import { OscDecodeError, OscEncodeError } from "../../lib/osc/errors.ts";
import type { OscBundle, OscMessage } from "../../lib/osc/types.ts";
import { hex, toHex } from "../hex.ts";
import { message, packet } from "./arbitrary.ts";

function assertBytes(actual: Uint8Array, expected: Uint8Array) {
  assert.equal(toHex(actual), toHex(expected));
}

Deno.test("codec: OSC 1.0 spec example /oscillator/4/frequency ,f 440.0", () => {
  const bytes = hex(`2f 6f 73 63 69 6c 6c 61 74 6f 72 2f 34 2f 66 72 65 71 75 65 6e 63 79 00
                     2c 66 00 00 43 dc 00 00`);
  const msg: OscMessage = { address: "/oscillator/4/frequency", args: [{ type: "f", value: 440 }] };
  assertBytes(encodeMessage(msg), bytes);
  assert.deepEqual(decodePacket(bytes), msg);
});

Deno.test("codec: OSC 1.0 spec example /foo ,iisff 1000 -1 hello 1.234 5.678", () => {
  const bytes = hex(`2f 66 6f 6f 00 00 00 00 2c 69 69 73 66 66 00 00 00 00 03 e8 ff ff ff ff
                     68 65 6c 6c 6f 00 00 00 3f 9d f3 b6 40 b5 b2 2d`);
  const encoded = encodeMessage({
    address: "/foo",
    args: [
      { type: "i", value: 1000 },
      { type: "i", value: -1 },
      { type: "s", value: "hello" },
      { type: "f", value: 1.234 },
      { type: "f", value: 5.678 },
    ],
  });
  assertBytes(encoded, bytes);
  const decoded = decodePacket(bytes) as OscMessage;
  assert.equal(decoded.args.length, 5);
  assert.deepEqual(decoded.args[2], { type: "s", value: "hello" });
  assert.deepEqual(decoded.args[3], { type: "f", value: Math.fround(1.234) });
});

const EVERY_TAG_BYTES = hex(`
  2f 61 6c 6c 00 00 00 00
  2c 69 66 73 62 68 74 64 53 63 72 6d 54 46 4e 49 5b 69 5d 00
  00 00 00 01  3f 00 00 00  68 69 00 00  00 00 00 03 01 02 03 00
  ff ff ff ff ff ff ff fe  00 00 00 00 00 00 00 01  3f f0 00 00 00 00 00 00
  73 79 6d 00  00 00 00 41  11 22 33 44  00 90 3c 64  00 00 00 07`);
const EVERY_TAG: OscMessage = {
  address: "/all",
  args: [
    { type: "i", value: 1 },
    { type: "f", value: 0.5 },
    { type: "s", value: "hi" },
    { type: "b", value: new Uint8Array([1, 2, 3]) },
    { type: "h", value: -2n },
    { type: "t", value: 1n },
    { type: "d", value: 1 },
    { type: "S", value: "sym" },
    { type: "c", value: 65 },
    { type: "r", value: 0x11223344 },
    { type: "m", value: new Uint8Array([0, 0x90, 60, 100]) },
    { type: "T" },
    { type: "F" },
    { type: "N" },
    { type: "I" },
    { type: "[", value: [{ type: "i", value: 7 }] },
  ],
};

Deno.test("codec: every type tag, byte-exact both ways", () => {
  assertBytes(encodeMessage(EVERY_TAG), EVERY_TAG_BYTES);
  assert.deepEqual(decodePacket(EVERY_TAG_BYTES), EVERY_TAG);
});

const NESTED_BUNDLE_BYTES = hex(`
  23 62 75 6e 64 6c 65 00 00 00 00 00 00 00 00 01
  00 00 00 0c 2f 61 00 00 2c 69 00 00 00 00 00 01
  00 00 00 1c 23 62 75 6e 64 6c 65 00 00 00 00 00 00 00 00 02
              00 00 00 08 2f 62 00 00 2c 00 00 00`);
const NESTED_BUNDLE: OscBundle = {
  timetag: 1n,
  elements: [
    { address: "/a", args: [{ type: "i", value: 1 }] },
    { timetag: 2n, elements: [{ address: "/b", args: [] }] },
  ],
};

Deno.test("codec: nested bundle, byte-exact both ways", () => {
  assertBytes(encodeBundle(NESTED_BUNDLE), NESTED_BUNDLE_BYTES);
  assert.deepEqual(decodePacket(NESTED_BUNDLE_BYTES), NESTED_BUNDLE);
});

Deno.test("codec: UTF-8 strings and an empty-address-path message", () => {
  const msg: OscMessage = { address: "/", args: [{ type: "s", value: "café ♪" }] };
  assert.deepEqual(decodePacket(encodeMessage(msg)), msg);
});

function decodeFails(bytes: Uint8Array, reason: RegExp, offset: number) {
  assert.throws(() => decodePacket(bytes), (e: unknown) => {
    assert.ok(e instanceof OscDecodeError, `expected OscDecodeError, got ${e}`);
    assert.match(e.reason, reason);
    assert.equal(e.offset, offset);
    return true;
  });
}

Deno.test("codec: decode errors say what and where", () => {
  decodeFails(new Uint8Array(0), /empty packet/, 0);
  decodeFails(hex("2f 61 00"), /not a multiple of 4/, 0);
  decodeFails(hex("61 61 00 00 2c 00 00 00"), /does not begin with '\/'/, 0);
  decodeFails(hex("2f 61 62 63"), /without NUL/, 0);
  decodeFails(hex("2f 61 00 00"), /missing type tag/, 4);
  decodeFails(hex("2f 61 00 00 69 00 00 00"), /does not begin with ','/, 4);
  decodeFails(hex("2f 61 00 00 2c 78 00 00"), /unknown type tag 'x'/, 5);
  decodeFails(hex("2f 61 00 00 2c 69 00 00"), /truncated argument 'i'/, 8);
  decodeFails(hex("2f 61 00 00 2c 64 00 00 00 00 00 00"), /truncated argument 'd'/, 8);
  decodeFails(hex("2f 61 00 00 2c 73 00 00 61 62 63 64"), /without NUL/, 8);
  decodeFails(hex("2f 61 00 00 2c 62 00 00 ff ff ff ff"), /negative blob size/, 8);
  decodeFails(hex("2f 61 00 00 2c 62 00 00 00 00 00 09 00 00 00 00"), /runs past the end/, 8);
  decodeFails(hex("2f 61 00 00 2c 5b 00 00"), /'\[' without '\]'/, 4);
  decodeFails(hex("2f 61 00 00 2c 5d 00 00"), /'\]' without '\['/, 5);
  decodeFails(hex("2f 61 00 01 2c 00 00 00"), /padding is not NUL/, 3);
  decodeFails(hex("2f 61 00 00 2c 00 00 00 00 00 00 00"), /4 bytes after the last argument/, 8);
  decodeFails(hex("2f 61 00 00 2c 73 00 00 ff fe 00 00"), /not valid UTF-8/, 8);
  decodeFails(hex("23 62 75 6e 64 6c 65 00 00 00 00 00 00 00 00 01 00 00 00 64"), /overruns its bundle/, 16);
  decodeFails(hex("23 62 75 6e 64 6c 65 00 00 00 00 00 00 00 00 01 00 00 00 00"), /not a positive multiple/, 16);
  decodeFails(hex("23 62 75 6e 64 6c 65 00 00 00 00 00"), /shorter than its header/, 0);
  decodeFails(hex("23 62 75 6e 64 6c 66 00 00 00 00 00 00 00 00 01"), /does not begin with '#bundle'/, 0);
});

Deno.test("codec: nesting limits stop deep bundles and arrays", () => {
  let deep: OscBundle = { timetag: 1n, elements: [] };
  for (let i = 0; i < 40; i++) deep = { timetag: 1n, elements: [deep] };
  assert.throws(() => decodePacket(encodeBundle(deep)), /bundles nested too deep/);
  const tags = "," + "[".repeat(40) + "]".repeat(40);
  const bytes = encodeMessage({ address: "/x", args: [] });
  const deepArray = new Uint8Array(4 + ((tags.length + 4) & ~3));
  deepArray.set(bytes.subarray(0, 4));
  deepArray.set(new TextEncoder().encode(tags), 4);
  assert.throws(() => decodePacket(deepArray), /arrays nested too deep/);
});

Deno.test("codec: encode rejects values OSC cannot carry", () => {
  assert.throws(() => encodeMessage({ address: "x", args: [] }), OscEncodeError);
  assert.throws(() => encodeMessage({ address: "/x", args: [{ type: "i", value: 2 ** 31 }] }), OscEncodeError);
  assert.throws(() => encodeMessage({ address: "/x", args: [{ type: "i", value: 1.5 }] }), OscEncodeError);
  assert.throws(() => encodeMessage({ address: "/x", args: [{ type: "s", value: "a\0b" }] }), OscEncodeError);
  assert.throws(() => encodeMessage({ address: "/x", args: [{ type: "h", value: 2n ** 63n }] }), OscEncodeError);
  assert.throws(
    () => encodeMessage({ address: "/x", args: [{ type: "m", value: new Uint8Array(3) }] }),
    OscEncodeError,
  );
  assert.throws(() => encodeBundle({ timetag: -1n, elements: [] }), OscEncodeError);
});

Deno.test("codec property: decode(encode(x)) equals x", () => {
  fc.assert(fc.property(packet, (p) => assert.deepEqual(decodePacket(encodePacket(p)), p)), { numRuns: 500 });
});

Deno.test("codec property: encode(decode(b)) equals b for valid packets", () => {
  fc.assert(
    fc.property(packet, (p) => {
      const bytes = encodePacket(p);
      assertBytes(encodePacket(decodePacket(bytes)), bytes);
    }),
    { numRuns: 500 },
  );
});

function onlyTypedErrors(bytes: Uint8Array) {
  try {
    decodePacket(bytes);
  } catch (e) {
    if (!(e instanceof OscDecodeError)) throw e;
    assert.ok(e.offset >= 0 && e.offset <= bytes.length, `offset ${e.offset} outside the packet`);
  }
}

Deno.test("codec property: arbitrary bytes give only OscDecodeError", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), onlyTypedErrors), { numRuns: 3000 });
  // Bytes that start like OSC reach deeper into the decoder.
  const oscLike = fc.tuple(fc.constantFrom("/a\0\0,", "#bundle\0"), fc.uint8Array({ maxLength: 100 })).map((
    [head, tail],
  ) => {
    const h = new TextEncoder().encode(head);
    const out = new Uint8Array((h.length + tail.length + 3) & ~3);
    out.set(h);
    out.set(tail, h.length);
    return out;
  });
  fc.assert(fc.property(oscLike, onlyTypedErrors), { numRuns: 3000 });
});

Deno.test("codec property: mutated valid packets give a packet or an OscDecodeError", () => {
  const mutated = fc.tuple(
    message,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 4,
    }),
  ).map(([m, edits]) => {
    const bytes = encodeMessage(m);
    for (const [at, value] of edits) bytes[at % bytes.length] = value;
    return bytes;
  });
  fc.assert(fc.property(mutated, onlyTypedErrors), { numRuns: 3000 });
});
