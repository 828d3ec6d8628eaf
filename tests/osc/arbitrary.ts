/** fast-check arbitraries for OSC values, shared by the codec and router property tests. */
import fc from "npm:fast-check@^4.10.2";
import type { OscArg, OscBundle, OscMessage, OscPacket } from "../../lib/osc/types.ts";

const noNul = (s: string) => !s.includes("\0");
const text = fc.string({ unit: "grapheme", maxLength: 12 }).filter(noNul);

/** An address: "/" and a few path characters, sometimes non-ASCII. */
export const address: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^\/[a-z0-9_/]{0,20}$/),
  text.map((s) => "/" + s),
);

const scalar: fc.Arbitrary<OscArg> = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ type: "i" as const, value })),
  fc.float().map((value) => ({ type: "f" as const, value })),
  fc.double().map((value) => ({ type: "d" as const, value })),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ type: "h" as const, value })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ type: "t" as const, value })),
  fc.nat({ max: 2 ** 32 - 1 }).map((value) => ({ type: "c" as const, value })),
  fc.nat({ max: 2 ** 32 - 1 }).map((value) => ({ type: "r" as const, value })),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((value) => ({ type: "m" as const, value })),
  text.map((value) => ({ type: "s" as const, value })),
  text.map((value) => ({ type: "S" as const, value })),
  fc.uint8Array({ maxLength: 40 }).map((value) => ({ type: "b" as const, value })),
  fc.constantFrom<OscArg>({ type: "T" }, { type: "F" }, { type: "N" }, { type: "I" }),
);

/** Any argument, arrays (nested) included. */
export const arg: fc.Arbitrary<OscArg> = fc.letrec<{ arg: OscArg }>((tie) => ({
  arg: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("arg"), { maxLength: 4 }).map((value) => ({ type: "[" as const, value })),
  ),
})).arg;

/** Any message. */
export const message: fc.Arbitrary<OscMessage> = fc.record({ address, args: fc.array(arg, { maxLength: 8 }) })
  .map((m) => ({ ...m })); // fc.record builds null-prototype objects; the codec returns plain ones

/** Any packet: a message, or a bundle of packets nested a few levels. */
export const packet: fc.Arbitrary<OscPacket> = fc.letrec<{ packet: OscPacket; bundle: OscBundle }>((tie) => ({
  packet: fc.oneof({ depthSize: "small", withCrossShrink: true }, message, tie("bundle")),
  bundle: fc.record({
    timetag: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    elements: fc.array(tie("packet"), { maxLength: 4 }),
  }).map((b) => ({ ...b })),
})).packet;
