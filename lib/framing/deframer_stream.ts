/**
 * The `TransformStream` shape shared by both deframers.
 *
 * @module
 */

import type { Deframed } from "./errors.ts";

/** An incremental decoder: bytes in, packets and errors appended to `out`. */
export interface Decoder {
  /**
   * Decodes one chunk.
   *
   * @param chunk bytes as read from the stream
   * @param out receives packets and errors in stream order
   */
  push(chunk: Uint8Array, out: Deframed[]): void;
  /**
   * The stream has ended: reports a frame left incomplete, and lets go of its memory.
   *
   * @param out receives the error, if a frame was incomplete
   */
  end(out: Deframed[]): void;
}

/** Options of a `DeframerStream`. */
export interface DeframerStreamOptions {
  /**
   * Emit an array for every chunk, empty when the chunk completed no frame (and one when the
   * stream ends), so a reader that writes one chunk and then reads gets exactly one array back
   * (`readDeframed` does). Default false: arrays only for chunks that completed a frame.
   */
  emptyBatches?: boolean;
}

/**
 * Wraps a decoder as a `TransformStream` from TCP chunks to arrays of packets and errors,
 * one array per chunk that completed at least one frame. Emitting arrays instead of single
 * packets keeps the per-packet cost of the stream machinery off the hot path (see the bench).
 * A stream that ends inside a frame ends with an array holding a fatal `BadFrameError` that says
 * so (as std's `DelimiterStream` hands on what its stream ended with, instead of dropping it).
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
 *
 * @example A stream that ends mid-frame says so
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeframerStream } from "./deframer_stream.ts";
 * import { LengthPrefixDecoder } from "./length_prefix.ts";
 * const stream = ReadableStream.from([new Uint8Array([0, 0, 0, 8, 0x2f, 0x61])])
 *   .pipeThrough(new DeframerStream(new LengthPrefixDecoder({ maxPacketBytes: 64 })));
 * const [last] = (await Array.fromAsync(stream)).flat();
 * assert.ok(last instanceof Error && last.name === "BadFrameError");
 * ```
 */
export class DeframerStream extends TransformStream<Uint8Array, Deframed[]> {
  /**
   * Wraps `decoder`.
   *
   * @param decoder the decoder, owned by the stream from now on
   * @param options whether to emit empty arrays
   */
  constructor(decoder: Decoder, options: DeframerStreamOptions = {}) {
    const always = options.emptyBatches === true;
    super({
      transform(chunk, controller) {
        const out: Deframed[] = [];
        decoder.push(chunk, out);
        if (always || out.length > 0) controller.enqueue(out);
      },
      flush(controller) {
        const out: Deframed[] = [];
        decoder.end(out);
        if (always || out.length > 0) controller.enqueue(out);
      },
    });
  }
}
