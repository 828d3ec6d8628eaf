/**
 * Sizes and lengths at the 32-bit edges (issue 10): the validator, the decoder and the
 * head reader agree, refuse what does not fit with an OscDecodeError, and never wrap.
 */
import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { decodePacket, encodeBundle, encodeMessage, encodePacket, readMessageHead } from "../../lib/osc/codec.ts";
import { OscDecodeError } from "../../lib/osc/errors.ts";
import type { OscBundle, OscPacket } from "../../lib/osc/types.ts";
import { MAX_ARRAY_DEPTH, MAX_BUNDLE_DEPTH, PACKET_BUNDLE, scanPacket } from "../../lib/osc/validate.ts";
import { hex, toHex } from "../hex.ts";
import {
  blobEdgeFamily,
  edgePacket,
  HUGE_EDGES,
  oscLikeMessage,
  quietNaNs,
  sizeAtEdge,
  stringAtEdge,
} from "./edges.ts";

/** The verdict of `f` on bytes: "ok", or the OscDecodeError; anything else thrown fails the test. */
function verdict<T>(f: () => T): { value: T } | { error: OscDecodeError } {
  try {
    return { value: f() };
  } catch (e) {
    if (!(e instanceof OscDecodeError)) throw e;
    return { error: e };
  }
}

/** The whole contract on one packet. */
function checkAgreement(bytes: Uint8Array): void {
  const scanned = verdict(() => scanPacket(bytes));
  const lenient = verdict(() => decodePacket(bytes, { invalidUtf8: "replace" }));
  const strict = verdict(() => decodePacket(bytes));
  assert.equal("value" in lenient, "value" in scanned, `scan and decode disagree on ${toHex(bytes)}`);
  if ("error" in scanned) {
    assert.ok("error" in strict);
    assert.ok(scanned.error.offset >= 0 && scanned.error.offset <= bytes.length, `offset ${scanned.error.offset}`);
    return;
  }
  if ("error" in strict) {
    assert.match(strict.error.reason, /UTF-8/, "decoding is stricter than scanning only about UTF-8");
    return;
  }
  assert.equal(toHex(encodePacket(strict.value)), toHex(quietNaNs(bytes)), "encode(decode(x)) is x");
  if ((scanned.value & PACKET_BUNDLE) === 0) {
    // The head reader reads a prefix of what the decoder reads.
    const whole = strict.value as { address: string; args: { type: string }[] };
    for (const maxArgs of [0, 1, 5]) {
      const head = readMessageHead(bytes, maxArgs);
      assert.equal(head.address, whole.address);
      assert.deepEqual(head.args.map((a) => a.type), whole.args.slice(0, maxArgs).map((a) => a.type));
      assert.equal(head.more, whole.args.length > maxArgs);
    }
  }
}

Deno.test("edges property: scan and decode agree, errors are OscDecodeError, encode(decode(x)) is x", () => {
  fc.assert(fc.property(edgePacket, checkAgreement), { numRuns: 4000 });
});

Deno.test("edges property: OSC-looking messages with edge words (how the blob wrap was found)", () => {
  fc.assert(fc.property(oscLikeMessage, checkAgreement), { numRuns: 4000 });
});

Deno.test("edges: the blob-wrap family, enumerated: scan and decode agree, huge sizes refused", () => {
  const family = blobEdgeFamily();
  assert.equal(family.length, 14280);
  for (const { bytes, blobSize } of family) {
    checkAgreement(bytes);
    if (HUGE_EDGES.includes(blobSize)) assert.throws(() => scanPacket(bytes), OscDecodeError, toHex(bytes));
  }
});

Deno.test("edges property: a blob or bundle element size past 2^31 - 4 is refused, whatever else", () => {
  fc.assert(
    fc.property(sizeAtEdge.filter(({ value }) => HUGE_EDGES.includes(value)), ({ bytes }) => {
      assert.throws(() => scanPacket(bytes), OscDecodeError);
      assert.throws(() => decodePacket(bytes, { invalidUtf8: "replace" }), OscDecodeError);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("edges property: strings of 0 to 9 bytes are accepted only with exact NUL padding", () => {
  fc.assert(
    fc.property(stringAtEdge, (bytes) => {
      const length = bytes.indexOf(0, 8) - 8;
      const exact = bytes.length === 8 + length + 4 - (length % 4) && bytes.subarray(8 + length).every((b) => b === 0);
      assert.equal("value" in verdict(() => scanPacket(bytes)), exact, toHex(bytes));
      checkAgreement(bytes);
    }),
    { numRuns: 500 },
  );
});

Deno.test("edges: a signalling NaN float32 comes back quiet, the only change encode(decode(x)) makes", () => {
  const bytes = hex("2f 61 00 00 2c 66 66 00 7f 80 00 01 ff a0 00 00");
  assert.equal(toHex(quietNaNs(bytes)), toHex(hex("2f 61 00 00 2c 66 66 00 7f c0 00 01 ff e0 00 00")));
  assert.equal(toHex(encodePacket(decodePacket(bytes))), toHex(quietNaNs(bytes)));
  const quiet = hex("2f 61 00 00 2c 66 00 00 7f c0 00 01");
  assert.equal(toHex(quietNaNs(quiet)), toHex(quiet));
});

Deno.test("edges: the 16-byte blob-wrap packet /a ,bsih 0x7ffffffd is refused", () => {
  const crash = hex("2f 61 00 00 2c 62 73 69 68 00 00 00 7f ff ff fd");
  for (const f of [() => scanPacket(crash), () => decodePacket(crash)]) {
    assert.throws(f, (e) => e instanceof OscDecodeError && /blob of 2147483645 bytes runs past the end/.test(e.reason));
  }
  for (const size of ["7f ff ff fc", "7f ff ff fd", "7f ff ff fe", "7f ff ff ff", "80 00 00 00", "ff ff ff ff"]) {
    for (const tags of ["62", "62 73 69 68"]) {
      const bytes = hex(`2f 61 00 00 2c ${tags} ${"00 ".repeat(7 - tags.length / 3)} ${size}`.replace(/\s+/g, " "));
      assert.throws(() => scanPacket(bytes), OscDecodeError, `${tags} ${size}`);
    }
  }
});

Deno.test("edges: a blob whose padding is not NUL is refused; with NUL padding it is accepted", () => {
  const good = hex("2f 61 00 00 2c 62 00 00 00 00 00 01 07 00 00 00");
  assert.equal(scanPacket(good), 0);
  for (const at of [13, 14, 15]) {
    const bad = good.slice();
    bad[at] = 0x01;
    for (const f of [() => scanPacket(bad), () => decodePacket(bad)]) {
      assert.throws(f, (e) => e instanceof OscDecodeError && e.reason === "blob padding is not NUL" && e.offset === at);
    }
  }
  // A blob of 0 bytes has no padding; one of 4 has none either.
  assert.equal(scanPacket(hex("2f 61 00 00 2c 62 00 00 00 00 00 00")), 0);
  assert.equal(scanPacket(hex("2f 61 00 00 2c 62 00 00 00 00 00 04 01 02 03 04")), 0);
});

function nestedBundle(depth: number): OscPacket {
  let packet: OscPacket = { address: "/deep", args: [] };
  for (let i = 0; i < depth; i++) packet = { timetag: 1n, elements: [packet] } satisfies OscBundle;
  return packet;
}

Deno.test("edges: bundles nested exactly MAX_BUNDLE_DEPTH deep pass, one deeper is refused", () => {
  const limit = encodePacket(nestedBundle(MAX_BUNDLE_DEPTH));
  assert.equal(scanPacket(limit), PACKET_BUNDLE);
  assert.deepEqual(decodePacket(limit), nestedBundle(MAX_BUNDLE_DEPTH));
  const deeper = encodeBundle(nestedBundle(MAX_BUNDLE_DEPTH + 1) as OscBundle);
  for (const f of [() => scanPacket(deeper), () => decodePacket(deeper)]) {
    assert.throws(f, (e) => e instanceof OscDecodeError && e.reason === "bundles nested too deep");
  }
});

Deno.test("edges: arrays nested exactly MAX_ARRAY_DEPTH deep pass, one deeper is refused", () => {
  const tags = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
  const bytes = (depth: number) => {
    const text = new TextEncoder().encode("," + tags(depth));
    const out = new Uint8Array(4 + text.length + 4 - (text.length % 4));
    out.set([0x2f, 0x78], 0);
    out.set(text, 4);
    return out;
  };
  assert.equal(scanPacket(bytes(MAX_ARRAY_DEPTH)), 0);
  assert.equal(encodeMessage(decodePacket(bytes(MAX_ARRAY_DEPTH)) as never).length, bytes(MAX_ARRAY_DEPTH).length);
  assert.throws(
    () => scanPacket(bytes(MAX_ARRAY_DEPTH + 1)),
    (e) => e instanceof OscDecodeError && e.reason === "arrays nested too deep",
  );
});

Deno.test("edges: a bundle element size of 0, 2^31 - 1, 2^31 or 2^32 - 1 is refused with OscDecodeError", () => {
  const bundle = encodeBundle({ timetag: 1n, elements: [{ address: "/a", args: [] }] });
  for (const size of [0, 2, 0x7ffffffc, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff]) {
    const bytes = bundle.slice();
    new DataView(bytes.buffer).setUint32(16, size);
    assert.throws(() => scanPacket(bytes), OscDecodeError, `size ${size}`);
  }
});

Deno.test("readMessageHead: reads the head only, checks what it reads", () => {
  const big = encodeMessage({
    address: "/oscrouter/private",
    args: [{ type: "f", value: 12 }, { type: "[", value: [{ type: "i", value: 1 }] }, { type: "s", value: "x" }],
  });
  assert.deepEqual(readMessageHead(big, 0), { address: "/oscrouter/private", args: [], more: true });
  assert.deepEqual(readMessageHead(big, 2), {
    address: "/oscrouter/private",
    args: [{ type: "f", value: 12 }, { type: "[" }],
    more: true,
  });
  assert.equal(readMessageHead(big, 9).more, false);
  // What it reads must be there.
  assert.throws(() => readMessageHead(hex("2f 61 00 00 2c 69 00 00"), 1), OscDecodeError);
  assert.throws(() => readMessageHead(hex("2f 61 00 00 2c 62 00 00 7f ff ff fd"), 1), OscDecodeError);
  assert.throws(() => readMessageHead(hex("61 61 00 00 2c 00 00 00"), 0), OscDecodeError);
  assert.throws(() => readMessageHead(hex("2f 61 00 00"), 0), OscDecodeError);
});
