/**
 * OSC 1.0 stream framing: each packet is preceded by its size as a big-endian int32.
 *
 * @module
 */

import { DeframerStream } from "./deframer_stream.ts";
import { BadFrameError, type Deframed, FrameTooLargeError, MisalignedFrameError, ServerBusyError } from "./errors.ts";
import { type BufferGrant, GatherBuffer } from "./gather_buffer.ts";

/** Options of the length-prefix deframer. */
export interface LengthPrefixOptions {
  /** Largest packet accepted; a larger announced size is fatal for the stream. */
  maxPacketBytes: number;
  /**
   * Asked before the buffer of a packet that spans reads grows, told when it is released (see
   * `BufferGrant`); a refusal drops the packet with a fatal `ServerBusyError`.
   */
  grant?: BufferGrant;
}

/**
 * Incremental length-prefix decoder: feed it TCP chunks of any size, it appends
 * whole packets (and errors) to an array.
 *
 * A packet that lies inside one chunk is emitted as a view of that chunk (no copy).
 * A packet that spans chunks is gathered into one buffer that grows geometrically as
 * its bytes arrive, up to the announced size: a 4-byte header alone never allocates
 * the size it announces, and a packet trickled one byte per read costs at most twice
 * its bytes. After a fatal error (size 0, negative, above the limit, or memory refused)
 * it ignores all further input: the caller closes.
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
  /** Bytes of that frame received so far (gathered, or skipped for a misaligned frame). */
  #gatheredBytes = 0;
  #gather: GatherBuffer;
  #failed = false;

  /**
   * A decoder with a packet size limit.
   *
   * @param options the packet size limit, and the grant asked before buffers grow
   */
  constructor(options: LengthPrefixOptions) {
    this.#maxPacketBytes = options.maxPacketBytes;
    this.#gather = new GatherBuffer(options.grant);
  }

  /** True once a fatal error was emitted: the stream cannot be resynchronised. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Bytes of an incomplete frame received so far (its header included). */
  get pendingBytes(): number {
    return this.#headerBytes + this.#gatheredBytes;
  }

  /**
   * Drops an incomplete frame and gives its memory back at once (the connection is gone).
   */
  release(): void {
    this.#gather.clear();
  }

  /** Bytes allocated for an incomplete frame: what it costs in memory (for accounting and tests). */
  get heldBytes(): number {
    return this.#gather.capacity;
  }

  /**
   * The stream has ended: reports a frame left incomplete (a fatal `BadFrameError`, as std's
   * `DelimiterStream` hands on what its stream ended with) and gives its memory back.
   *
   * @param out receives the error, if a frame was incomplete
   */
  end(out: Deframed[]): void {
    if (!this.#failed && this.pendingBytes > 0) {
      const what = this.#frameBytes < 0
        ? `${this.#headerBytes} of the 4 bytes of a length prefix`
        : `${this.#gatheredBytes} of the ${this.#frameBytes} bytes of a packet`;
      out.push(new BadFrameError(`The stream ended after ${what}; the incomplete packet was dropped`, true));
      this.#failed = true;
    }
    this.#headerBytes = this.#gatheredBytes = 0;
    this.#frameBytes = -1;
    this.#gather.clear();
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
      const size = this.#frameBytes;
      const take = Math.min(size - this.#gatheredBytes, length - pos);
      // A misaligned frame is skipped, not gathered.
      if (size % 4 === 0) {
        if (!this.#gather.reserve(this.#gatheredBytes + take, size)) {
          out.push(new ServerBusyError(size, true));
          this.#gather.clear();
          this.#failed = true;
          return;
        }
        this.#gather.append(chunk, pos, pos + take);
      }
      this.#gatheredBytes += take;
      pos += take;
      if (this.#gatheredBytes === size) {
        out.push(size % 4 === 0 ? this.#gather.take() : new MisalignedFrameError(size));
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
