/**
 * The decoders as the server drives them: every read lands in ONE buffer that the next read
 * overwrites, and what a push emits is used at once (the router handles it synchronously). A
 * decoder that kept a view of that buffer past its push (rather than copying a partial packet)
 * would hand out bytes of a later read; tests that feed fresh chunks can never see it.
 */
import assert from "node:assert/strict";
import type { Decoder } from "../../lib/framing/deframer_stream.ts";
import type { Deframed } from "../../lib/framing/errors.ts";
import { encodeLengthPrefixFrame, LengthPrefixDecoder } from "../../lib/framing/length_prefix.ts";
import { encodeSlipFrame, SlipDecoder } from "../../lib/framing/slip.ts";
import { toHex } from "../hex.ts";
import { join } from "./frames.ts";

/** Packets of 4 to 600 bytes (multiples of 4), with SLIP specials in them, each different. */
function packets(): Uint8Array[] {
  return [4, 8, 12, 100, 256, 600, 16, 44, 300, 4].map((size, k) =>
    Uint8Array.from({ length: size }, (_, i) => [0xc0, 0xdb, k, i & 0xff, (i * 31 + k) & 0xff][i % 5]!)
  );
}

/**
 * Reads `stream` through one reused buffer of `bufferBytes`, `readSizes` bytes at a time (cycled),
 * scribbling over the buffer before each read; copies what each push emits at once.
 */
function readThroughOneBuffer(
  decoder: Decoder,
  stream: Uint8Array,
  bufferBytes: number,
  readSizes: number[],
): Deframed[] {
  const buffer = new Uint8Array(bufferBytes);
  const received: Deframed[] = [];
  let at = 0;
  for (let read = 0; at < stream.length; read++) {
    buffer.fill(0xee); // what the next read leaves where the last one was
    const n = Math.min(readSizes[read % readSizes.length]!, bufferBytes, stream.length - at);
    buffer.set(stream.subarray(at, at + n));
    at += n;
    const out: Deframed[] = [];
    decoder.push(buffer.subarray(0, n), out);
    for (const item of out) received.push(item instanceof Uint8Array ? item.slice() : item);
  }
  return received;
}

const framings = {
  "length prefix": {
    encode: encodeLengthPrefixFrame,
    decoder: () => new LengthPrefixDecoder({ maxPacketBytes: 4096 }),
  },
  "SLIP": { encode: encodeSlipFrame, decoder: () => new SlipDecoder({ maxPacketBytes: 4096 }) },
};

for (const [name, framing] of Object.entries(framings)) {
  for (const [bufferBytes, readSizes] of [[16, [16]], [64, [7, 64, 1, 33, 5]], [1024, [1024, 3, 200]]] as const) {
    Deno.test(`${name}: packets read through one reused ${bufferBytes}-byte buffer come out intact`, () => {
      const sent = packets();
      const stream = join(sent.map(framing.encode));
      const received = readThroughOneBuffer(framing.decoder(), stream, bufferBytes, [...readSizes]);
      assert.deepEqual(received.map((p) => p instanceof Uint8Array ? toHex(p) : p), sent.map(toHex));
    });
  }

  Deno.test(`${name}: a packet split over two reads of one buffer keeps its first part`, () => {
    const sent = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
    const frame = framing.encode(sent);
    for (let cut = 1; cut < frame.length; cut++) {
      const received = readThroughOneBuffer(framing.decoder(), frame, frame.length, [cut, frame.length]);
      assert.deepEqual(received.map((p) => p instanceof Uint8Array ? toHex(p) : p), [toHex(sent)], `cut at ${cut}`);
    }
  });
}
