/**
 * OSC 1.0 stream framing: each packet is preceded by its size as a big-endian int32.
 *
 * @module
 */

import { concatBytes } from "./concat.ts";
import { DeframerStream } from "./deframer_stream.ts";
import { BadFrameError, type Deframed, FrameTooLargeError, MisalignedFrameError } from "./errors.ts";

/** Options of the length-prefix deframer. */
export interface LengthPrefixOptions {
  /** Largest packet accepted; a larger announced size is fatal for the stream. */
  maxPacketBytes: number;
}

/**
 * Incremental length-prefix decoder: feed it TCP chunks of any size, it appends
 * whole packets (and errors) to an array.
 *
 * A packet that lies inside one chunk is emitted as a view of that chunk (no copy);
 * only a packet that spans chunks is copied, once. After a fatal error (size 0,
 * negative, or above the limit) it ignores all further input: the caller closes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LengthPrefixDecoder } from "./length_prefix.ts";
 * import type { Deframed } from "./errors.ts";
 * const decoder = new LengthPrefixDecoder({ maxPacketBytes: 1024 });
 * const out: Deframed[] = [];
 * decoder.push(new Uint8Array([0, 0, 0, 4, 0x2f, 0x61]), out);
 * decoder.push(new Uint8Array([0, 0]), out);
 * assert.ok(out.length === 1);
 * ```
 */
export class LengthPrefixDecoder {
  #maxPacketBytes: number;
  #header = new Uint8Array(4);
  #headerBytes = 0;
  /** Size of the frame whose body is being gathered, or -1 while reading a header. */
  #frameBytes = -1;
  #pieces: Uint8Array[] = [];
  #gatheredBytes = 0;
  #failed = false;

  /**
   * A decoder with a packet size limit.
   *
   * @param options the packet size limit
   */
  constructor(options: LengthPrefixOptions) {
    this.#maxPacketBytes = options.maxPacketBytes;
  }

  /** True once a fatal error was emitted: the stream cannot be resynchronised. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Bytes held for an incomplete frame (for memory accounting and tests). */
  get pendingBytes(): number {
    return this.#headerBytes + this.#gatheredBytes;
  }

  /**
   * Decodes one chunk.
   *
   * @param chunk bytes as read from the stream; not modified, and views of it may be emitted
   * @param out receives packets and errors in stream order
   */
  push(chunk: Uint8Array, out: Deframed[]): void {
    const length = chunk.length;
    let pos = 0;
    while (pos < length && !this.#failed) {
      if (this.#frameBytes < 0) {
        let size: number;
        if (this.#headerBytes === 0 && pos + 4 <= length) {
          size = int32At(chunk, pos);
          pos += 4;
        } else {
          while (this.#headerBytes < 4 && pos < length) this.#header[this.#headerBytes++] = chunk[pos++]!;
          if (this.#headerBytes < 4) return;
          size = int32At(this.#header, 0);
          this.#headerBytes = 0;
        }
        if (!this.#acceptSize(size, out)) return;
        if (pos + size <= length) {
          out.push(size % 4 === 0 ? chunk.subarray(pos, pos + size) : new MisalignedFrameError(size));
          pos += size;
          continue;
        }
        this.#frameBytes = size;
      }
      const take = Math.min(this.#frameBytes - this.#gatheredBytes, length - pos);
      if (this.#frameBytes % 4 === 0) this.#pieces.push(chunk.slice(pos, pos + take));
      this.#gatheredBytes += take;
      pos += take;
      if (this.#gatheredBytes === this.#frameBytes) {
        const size = this.#frameBytes;
        out.push(size % 4 === 0 ? concatBytes(this.#pieces, size) : new MisalignedFrameError(size));
        this.#pieces = [];
        this.#gatheredBytes = 0;
        this.#frameBytes = -1;
      }
    }
  }

  #acceptSize(size: number, out: Deframed[]): boolean {
    if (size <= 0) {
      out.push(new BadFrameError(`Length prefix ${size} is not a valid packet size; the stream is out of sync`, true));
    } else if (size > this.#maxPacketBytes) {
      out.push(new FrameTooLargeError(size, this.#maxPacketBytes, true));
    } else {
      return true;
    }
    this.#failed = true;
    return false;
  }
}

/** The big-endian int32 at `at`, read without bitwise operators (they wrap above 2^31 − 1). */
function int32At(bytes: Uint8Array, at: number): number {
  const value = bytes[at]! * 0x1000000 + bytes[at + 1]! * 0x10000 + bytes[at + 2]! * 0x100 + bytes[at + 3]!;
  return value >= 0x80000000 ? value - 0x100000000 : value;
}

/**
 * `TransformStream` from TCP chunks to arrays of packets and errors (see `DeframerStream`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LengthPrefixDeframer } from "./length_prefix.ts";
 * const frames = ReadableStream.from([new Uint8Array([0, 0, 0, 4, 0x2f, 0x61, 0, 0])])
 *   .pipeThrough(new LengthPrefixDeframer({ maxPacketBytes: 64 }));
 * const batches = await Array.fromAsync(frames);
 * assert.ok(batches.flat().length === 1);
 * ```
 */
export class LengthPrefixDeframer extends DeframerStream {
  /**
   * A deframer with a packet size limit.
   *
   * @param options the packet size limit
   */
  constructor(options: LengthPrefixOptions) {
    super(new LengthPrefixDecoder(options));
  }
}

/**
 * Frames one packet with its big-endian int32 size.
 *
 * @param packet the packet's bytes
 * @returns a new buffer: size then packet
 * @throws {RangeError} if the packet is 2 GiB or more (its size would not be a positive int32)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeLengthPrefixFrame } from "./length_prefix.ts";
 * assert.ok(encodeLengthPrefixFrame(new Uint8Array(8)).join() === "0,0,0,8,0,0,0,0,0,0,0,0");
 * ```
 */
export function encodeLengthPrefixFrame(packet: Uint8Array): Uint8Array {
  const size = packet.length;
  if (size > 0x7fffffff) throw new RangeError(`A packet of ${size} bytes cannot be framed: its size is not an int32`);
  const frame = new Uint8Array(size + 4);
  frame[0] = size >>> 24;
  frame[1] = (size >>> 16) & 0xff;
  frame[2] = (size >>> 8) & 0xff;
  frame[3] = size & 0xff;
  frame.set(packet, 4);
  return frame;
}
