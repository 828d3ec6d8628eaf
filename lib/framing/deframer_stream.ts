/**
 * The `TransformStream` shape shared by both deframers.
 *
 * @module
 */

import type { Deframed } from "./errors.ts";

/** An incremental decoder: bytes in, packets and errors appended to `out`. */
export interface Decoder {
  /**
   * Deframes the next bytes of the stream.
   *
   * @param chunk bytes as read from the stream
   * @param out receives packets and errors in stream order
   */
  push(chunk: Uint8Array, out: Deframed[]): void;
}

/**
 * Wraps a decoder as a `TransformStream` from TCP chunks to arrays of packets and errors,
 * one array per chunk that completed at least one frame. Emitting arrays instead of single
 * packets keeps the per-packet cost of the stream machinery off the hot path (see the bench).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeframerStream } from "./deframer_stream.ts";
 * import { SlipDecoder } from "./slip.ts";
 * const stream = ReadableStream.from([new Uint8Array([0xc0, 0x2f, 0, 0, 0, 0xc0])])
 *   .pipeThrough(new DeframerStream(new SlipDecoder({ maxPacketBytes: 64 })));
 * assert.equal((await Array.fromAsync(stream)).flat().length, 1);
 * ```
 */
export class DeframerStream extends TransformStream<Uint8Array, Deframed[]> {
  /**
   * Wraps `decoder`.
   *
   * @param decoder the decoder, owned by the stream from now on
   */
  constructor(decoder: Decoder) {
    super({
      transform(chunk, controller) {
        const out: Deframed[] = [];
        decoder.push(chunk, out);
        if (out.length > 0) controller.enqueue(out);
      },
    });
  }
}
