/**
 * Codec benchmarks on a 32-byte message and a ~4 KB packet.
 * Run: deno task bench (packets/s = 1e9 / ns per iteration).
 */
import { decodePacket, encodePacket } from "../lib/osc/codec.ts";
import { LARGE, SMALL } from "./packets.ts";
import { scanPacket } from "../lib/osc/validate.ts";

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
