/**
 * Codec benchmarks on a 32-byte message and a ~4 KB packet.
 * Run: deno task bench (packets/s = 1e9 / ns per iteration).
 */
import { decodePacket, encodePacket } from "../lib/osc/codec.ts";
import type { OscMessage } from "../lib/osc/types.ts";
import { scanPacket } from "../lib/osc/validate.ts";

/** 32 bytes: "/synth/frequency" ,if 1 440.0 */
export const SMALL: OscMessage = {
  address: "/synth/frequency",
  args: [{ type: "i", value: 1 }, { type: "f", value: 440 }],
};
/** ~4 KB: a blob and a few values. */
export const LARGE: OscMessage = {
  address: "/sample/chunk",
  args: [{ type: "i", value: 7 }, { type: "b", value: Uint8Array.from({ length: 4000 }, (_, i) => i & 0xff) }, {
    type: "d",
    value: 0.25,
  }],
};
const small = encodePacket(SMALL);
const large = encodePacket(LARGE);
if (small.length !== 32) throw new Error(`SMALL is ${small.length} bytes, not 32`);

Deno.bench("validate (scanPacket) 32 B", { group: "validate 32 B", baseline: true }, () => {
  scanPacket(small);
});
Deno.bench("decode 32 B", { group: "validate 32 B" }, () => {
  decodePacket(small);
});
Deno.bench("encode 32 B", { group: "validate 32 B" }, () => {
  encodePacket(SMALL);
});
Deno.bench("validate (scanPacket) 4 KB", { group: "validate 4 KB", baseline: true }, () => {
  scanPacket(large);
});
Deno.bench("decode 4 KB", { group: "validate 4 KB" }, () => {
  decodePacket(large);
});
Deno.bench("encode 4 KB", { group: "validate 4 KB" }, () => {
  encodePacket(LARGE);
});
