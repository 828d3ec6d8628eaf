/** Test helpers for framing: run a decoder over chunks, split bytes arbitrarily. */
import type { Decoder } from "../../lib/framing/deframer_stream.ts";
import type { Deframed } from "../../lib/framing/errors.ts";

/** Feeds chunks to a decoder and copies out what it emits (views may alias the chunks). */
export function runDecoder(decoder: Decoder, chunks: Uint8Array[]): Deframed[] {
  const out: Deframed[] = [];
  for (const chunk of chunks) decoder.push(chunk, out);
  return out.map((item) => item instanceof Uint8Array ? item.slice() : item);
}

/** Splits bytes at the given cut points (sorted, deduplicated, within range). */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    if (p > start) chunks.push(bytes.slice(start, p));
    start = Math.max(start, p);
  }
  return chunks;
}

/** Joins byte arrays. */
export function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
