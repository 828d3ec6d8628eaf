/**
 * A/B of the deframers against another checkout, in one process (less noise than two `deno bench`
 * runs on a shared machine): best of 200 alternating runs of each case.
 *
 * usage: git archive REV | tar -x -C /tmp/before && deno run -A bench/framing_ab.ts /tmp/before
 */
import { encodeLengthPrefixFrame, LengthPrefixDecoder } from "../lib/framing/length_prefix.ts";
import { encodeSlipFrame, SlipDecoder } from "../lib/framing/slip.ts";
import type { Deframed } from "../lib/framing/errors.ts";
import { encodePacket } from "../lib/osc/codec.ts";
import { LARGE, SMALL } from "./packets.ts";

type DecoderClass = new (options: { maxPacketBytes: number }) => {
  push(chunk: Uint8Array, out: Deframed[]): void;
};

const before = Deno.args[0];
if (before === undefined) throw new Error("usage: deno run -A bench/framing_ab.ts DIR_OF_OTHER_CHECKOUT");
const old = {
  slip: (await import(`${before}/lib/framing/slip.ts`)).SlipDecoder as DecoderClass,
  lp: (await import(`${before}/lib/framing/length_prefix.ts`)).LengthPrefixDecoder as DecoderClass,
};

function chunked(frame: Uint8Array, count: number): Uint8Array[] {
  const stream = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) stream.set(frame, i * frame.length);
  const chunks = [];
  for (let at = 0; at < stream.length; at += 65536) chunks.push(stream.subarray(at, at + 65536));
  return chunks;
}

const cases: [string, Uint8Array[], DecoderClass, DecoderClass][] = [
  ["slip, 1000 x 4 KB", chunked(encodeSlipFrame(encodePacket(LARGE)), 1000), old.slip, SlipDecoder],
  ["slip, 10000 x 32 B", chunked(encodeSlipFrame(encodePacket(SMALL)), 10000), old.slip, SlipDecoder],
  [
    "length prefix, 1000 x 4 KB",
    chunked(encodeLengthPrefixFrame(encodePacket(LARGE)), 1000),
    old.lp,
    LengthPrefixDecoder,
  ],
  [
    "length prefix, 10000 x 32 B",
    chunked(encodeLengthPrefixFrame(encodePacket(SMALL)), 10000),
    old.lp,
    LengthPrefixDecoder,
  ],
];
for (const [name, chunks, a, b] of cases) {
  const best = [Infinity, Infinity];
  for (let round = 0; round < 200; round++) {
    for (const [k, Decoder] of [[0, a], [1, b]] as const) {
      const started = performance.now();
      const decoder = new Decoder({ maxPacketBytes: 1 << 20 });
      for (const chunk of chunks) decoder.push(chunk, []);
      best[k] = Math.min(best[k]!, performance.now() - started);
    }
  }
  console.log(`${name}: other ${best[0]!.toFixed(3)} ms, this ${best[1]!.toFixed(3)} ms`);
}
