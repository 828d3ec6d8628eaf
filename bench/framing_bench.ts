/**
 * Deframer benchmarks: 10,000 packets cut into 64 KiB chunks (as TCP reads arrive),
 * through the inner decoder and through the TransformStream. Divide 10,000 by the
 * time per iteration for packets/s.
 */
import { encodeLengthPrefixFrame, LengthPrefixDecoder, LengthPrefixDeframer } from "../lib/framing/length_prefix.ts";
import { encodeSlipFrame, SlipDecoder, SlipDeframer } from "../lib/framing/slip.ts";
import type { Deframed } from "../lib/framing/errors.ts";
import { encodePacket } from "../lib/osc/codec.ts";
import { LARGE, SMALL } from "./packets.ts";

const PACKETS = 10_000;
const CHUNK_BYTES = 65536;

function chunked(frame: Uint8Array, count: number): Uint8Array[] {
  const stream = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) stream.set(frame, i * frame.length);
  const chunks = [];
  for (let at = 0; at < stream.length; at += CHUNK_BYTES) chunks.push(stream.subarray(at, at + CHUNK_BYTES));
  return chunks;
}

const options = { maxPacketBytes: 1 << 20 };
for (const [label, packet] of [["32 B", encodePacket(SMALL)], ["4 KB", encodePacket(LARGE)]] as const) {
  const count = label === "32 B" ? PACKETS : PACKETS / 10;
  const lp = chunked(encodeLengthPrefixFrame(packet), count);
  const slip = chunked(encodeSlipFrame(packet), count);

  Deno.bench(`length-prefix decoder, ${count} x ${label}`, { group: `deframe ${label}` }, () => {
    const decoder = new LengthPrefixDecoder(options);
    let n = 0;
    for (const chunk of lp) {
      const out: Deframed[] = [];
      decoder.push(chunk, out);
      n += out.length;
    }
    if (n !== count) throw new Error(`got ${n}`);
  });
  Deno.bench(`LengthPrefixDeframer stream, ${count} x ${label}`, { group: `deframe ${label}` }, async () => {
    let n = 0;
    for await (const batch of ReadableStream.from(lp).pipeThrough(new LengthPrefixDeframer(options))) n += batch.length;
    if (n !== count) throw new Error(`got ${n}`);
  });
  Deno.bench(`slip decoder, ${count} x ${label}`, { group: `deframe ${label}` }, () => {
    const decoder = new SlipDecoder(options);
    let n = 0;
    for (const chunk of slip) {
      const out: Deframed[] = [];
      decoder.push(chunk, out);
      n += out.length;
    }
    if (n !== count) throw new Error(`got ${n}`);
  });
  Deno.bench(`SlipDeframer stream, ${count} x ${label}`, { group: `deframe ${label}` }, async () => {
    let n = 0;
    for await (const batch of ReadableStream.from(slip).pipeThrough(new SlipDeframer(options))) n += batch.length;
    if (n !== count) throw new Error(`got ${n}`);
  });
  Deno.bench(`encode slip frame ${label}`, { group: `encode frame ${label}` }, () => {
    encodeSlipFrame(packet);
  });
  Deno.bench(`encode length-prefix frame ${label}`, { group: `encode frame ${label}` }, () => {
    encodeLengthPrefixFrame(packet);
  });
}
