/**
 * The one read path for an OSC byte stream (a TCP connection's `readable`): a BYOB reader with
 * one reused buffer feeds a `DeframerStream`, whose arrays of packets go to a handler.
 *
 * @module
 */

import { type Decoder, DeframerStream } from "./deframer_stream.ts";
import type { Deframed } from "./errors.ts";

/** Bytes of the read buffer unless told otherwise. */
const DEFAULT_BUFFER_BYTES = 16 * 1024;

/**
 * Handles the packets and errors deframed from one read, in stream order. The packets may be
 * views of the read buffer: they are valid until the handler returns (or its promise settles),
 * and must be copied to be kept longer. The next read waits for the handler.
 *
 * @param batch the packets and errors (empty when the read completed no frame)
 * @param chunkBytes bytes the read returned (0 for the batch reported when the stream ends)
 * @returns `false` to stop reading; anything else reads on
 */
export type DeframedHandler = (
  batch: readonly Deframed[],
  chunkBytes: number,
) => boolean | void | Promise<boolean | void>;

/** Options of `readDeframed`. */
export interface ReadDeframedOptions {
  /** Size of the read buffer, reused for every read (default 16 KiB). */
  bufferBytes?: number;
  /** Size to switch to once a read fills the buffer (a client sending in bulk); default: no growth. */
  bulkBufferBytes?: number;
  /**
   * Asked before switching to the bulk buffer (a process may allow only a few); false keeps the
   * small buffer, and it is asked again after the next read that fills it. Default: always yes.
   */
  mayGrow?: () => boolean;
}

/** How `readDeframed` ended. */
export type ReadDeframedEnd = "ended" | "stopped";

/**
 * Reads `readable` until it ends or `onBatch` returns `false`: each read fills one reused buffer
 * (a BYOB reader: no chunk is allocated per read), goes through a `DeframerStream` around the
 * decoder, and the array of packets and errors it yields goes to `onBatch` before the next read.
 * A stream that ends inside a frame yields a last batch with a fatal `BadFrameError`.
 *
 * @param readable a byte stream (`Deno.Conn.readable`, or any `ReadableStream` of type "bytes")
 * @param decoder the decoder, or a function that picks one from the stream's first byte (none:
 * stop, the function having dealt with the stream)
 * @param onBatch called once per read with what it deframed
 * @param options the read buffer's sizes
 * @returns "ended" when the stream ended, "stopped" when `onBatch` or the decoder picker stopped it
 * (the reader's lock is released: the caller may cancel the stream or close the connection)
 * @throws what the stream's read throws (a connection reset), or what `onBatch` throws
 *
 * @example Read a client's packets
 * ```ts
 * import assert from "node:assert/strict";
 * import { readDeframed } from "./read_deframed.ts";
 * import { encodeLengthPrefixFrame, LengthPrefixDecoder } from "./length_prefix.ts";
 * const bytes = [encodeLengthPrefixFrame(new Uint8Array([0x2f, 0x61, 0, 0])), new Uint8Array([0, 0, 0])];
 * const readable = new ReadableStream({
 *   type: "bytes",
 *   pull(controller) {
 *     const next = bytes.shift() ?? new Uint8Array(0);
 *     if (next.length === 0) controller.close(); // the end: answered with respond(0)
 *     controller.byobRequest!.view!.set(next);
 *     controller.byobRequest!.respond(next.length);
 *   },
 * });
 * const seen: string[] = [];
 * const end = await readDeframed(readable, new LengthPrefixDecoder({ maxPacketBytes: 64 }), (batch) => {
 *   for (const item of batch) seen.push(item instanceof Uint8Array ? `packet of ${item.length}` : item.name);
 * });
 * assert.equal(end, "ended");
 * assert.deepEqual(seen, ["packet of 4", "BadFrameError"]); // the stream ended after 3 of 4 header bytes
 * ```
 */
export async function readDeframed(
  readable: ReadableStream<Uint8Array>,
  decoder: Decoder | ((firstByte: number) => Decoder | undefined),
  onBatch: DeframedHandler,
  options: ReadDeframedOptions = {},
): Promise<ReadDeframedEnd> {
  const { bufferBytes = DEFAULT_BUFFER_BYTES, bulkBufferBytes = bufferBytes, mayGrow } = options;
  const reader = readable.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(bufferBytes);
  let deframer: DeframerStream | undefined;
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  let batches: ReadableStreamDefaultReader<Deframed[]> | undefined;
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done) {
        if (writer === undefined || batches === undefined) return "ended";
        // The stream's flush reports a frame left incomplete: one last (possibly empty) array.
        const last = batches.read();
        writer.close().catch(() => {});
        const { value: batch } = await last;
        if (batch !== undefined && batch.length > 0) await onBatch(batch, 0);
        return "ended";
      }
      // The read took the buffer over (transferred it); the bytes are in `value`'s buffer now.
      buffer = value.buffer as ArrayBuffer;
      if (deframer === undefined) {
        const picked = typeof decoder === "function" ? decoder(value[0]!) : decoder;
        if (picked === undefined) return "stopped";
        deframer = new DeframerStream(picked, { emptyBatches: true });
        writer = deframer.writable.getWriter();
        batches = deframer.readable.getReader();
      }
      // One array per chunk (emptyBatches): the read below is answered by this chunk's transform,
      // whatever the timing. A failed transform errors the stream, and the read rejects with it.
      const next = batches!.read();
      writer!.write(value).catch(() => {});
      const { value: batch } = await next;
      if (batch === undefined) return "ended";
      if ((await onBatch(batch, value.length)) === false) return "stopped";
      if (value.length === buffer.byteLength && buffer.byteLength < bulkBufferBytes && (mayGrow?.() ?? true)) {
        buffer = new ArrayBuffer(bulkBufferBytes);
      }
    }
  } finally {
    reader.releaseLock();
    writer?.releaseLock();
    batches?.releaseLock();
  }
}
