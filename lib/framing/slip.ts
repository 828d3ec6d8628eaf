/**
 * OSC 1.1 stream framing: SLIP (RFC 1055) with double END.
 *
 * @module
 */

import { DeframerStream } from "./deframer_stream.ts";
import { BadFrameError, type Deframed, FrameTooLargeError, ServerBusyError } from "./errors.ts";
import { type BufferGrant, GatherBuffer } from "./gather_buffer.ts";

/** SLIP frame delimiter. */
export const END = 0xc0;
/** SLIP escape byte. */
export const ESC = 0xdb;
/** Escaped END. */
export const ESC_END = 0xdc;
/** Escaped ESC. */
export const ESC_ESC = 0xdd;

/** Options of the SLIP deframer. */
export interface SlipOptions {
  /** Largest decoded packet accepted; a larger frame is dropped, and reading resumes after the next END. */
  maxPacketBytes: number;
  /**
   * Asked before the buffer of a frame that spans reads (or holds escapes) grows, told when it is
   * released (see `BufferGrant`); a refusal drops that frame with a non-fatal `ServerBusyError`.
   */
  grant?: BufferGrant;
}

/**
 * Incremental SLIP decoder: feed it TCP chunks of any size, it appends whole packets
 * (and errors) to an array.
 *
 * A leading END is optional and empty frames are ignored. A bad escape, a frame over
 * the limit or a frame whose memory is refused drops that frame only, with a non-fatal
 * error, and decoding resumes after the next END; a dropped frame holds no memory. A
 * frame inside one chunk without escapes is emitted as a view of the chunk (no copy);
 * any other frame is gathered into one buffer that grows geometrically as bytes arrive
 * (a frame trickled one byte per read costs at most twice its bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SlipDecoder } from "./slip.ts";
 * import type { Deframed } from "./errors.ts";
 * const decoder = new SlipDecoder({ maxPacketBytes: 1024 });
 * const out: Deframed[] = [];
 * decoder.push(new Uint8Array([0xc0, 0x2f, 0x61, 0xdb]), out);
 * decoder.push(new Uint8Array([0xdc, 0, 0xc0]), out);
 * assert.ok(out.length === 1 && (out[0] as Uint8Array).join() === "47,97,192,0");
 * ```
 */
export class SlipDecoder {
  #maxPacketBytes: number;
  /** The current frame's decoded bytes, when it spans chunks or holds escapes. */
  #gather: GatherBuffer;
  /** The previous chunk ended with ESC. */
  #escaped = false;
  /** The current frame is being dropped until the next END. */
  #dropping = false;
  /** Offset of the next ESC in the current chunk, or -1. */
  #nextEsc = -1;

  /**
   * A decoder with a packet size limit.
   *
   * @param options the packet size limit, and the grant asked before buffers grow
   */
  constructor(options: SlipOptions) {
    this.#maxPacketBytes = options.maxPacketBytes;
    this.#gather = new GatherBuffer(options.grant);
  }

  /** Decoded bytes of an incomplete frame received so far. */
  get pendingBytes(): number {
    return this.#gather.length;
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
   * The stream has ended: reports a frame left without its closing END (a fatal `BadFrameError`,
   * as std's `DelimiterStream` hands on what its stream ended with) and gives its memory back.
   * A frame already being dropped (too large, bad escape) was reported when it was dropped.
   *
   * @param out receives the error, if a frame was incomplete
   */
  end(out: Deframed[]): void {
    if (!this.#dropping && (this.#gather.length > 0 || this.#escaped)) {
      out.push(
        new BadFrameError(
          `The stream ended inside a SLIP frame (${this.#gather.length} bytes after the last END); the incomplete packet was dropped`,
          true,
        ),
      );
    }
    this.#escaped = this.#dropping = false;
    this.#gather.clear();
  }

  /**
   * Decodes one chunk.
   *
   * @param chunk bytes as read from the stream; not modified, and views of it may be emitted
   * @param out receives packets and errors in stream order
   */
  push(chunk: Uint8Array, out: Deframed[]): void {
    let start = 0;
    this.#nextEsc = chunk.indexOf(ESC);
    for (;;) {
      const end = chunk.indexOf(END, start);
      if (end === -1) {
        if (start < chunk.length) this.#append(chunk, start, chunk.length, out, false);
        return;
      }
      if (end > start) {
        // Searching for ESC from each frame's start to the chunk's end would be quadratic in
        // frames per chunk; the position of the next ESC only moves forward.
        if (this.#nextEsc !== -1 && this.#nextEsc < start) this.#nextEsc = chunk.indexOf(ESC, start);
        if (
          this.#gather.length === 0 && !this.#escaped && !this.#dropping &&
          (this.#nextEsc === -1 || this.#nextEsc >= end)
        ) {
          // The whole frame is in this chunk, without escapes: a view.
          const size = end - start;
          out.push(size <= this.#maxPacketBytes ? chunk.subarray(start, end) : this.#tooLarge(size));
          start = end + 1;
          continue;
        }
        this.#append(chunk, start, end, out, true);
      }
      this.#finishFrame(out);
      start = end + 1;
    }
  }

  /** Adds `chunk[start, stop)` to the current frame; `final` when an END follows (no growth after it). */
  #append(chunk: Uint8Array, start: number, stop: number, out: Deframed[], final: boolean): void {
    if (this.#dropping) return;
    if (this.#nextEsc !== -1 && this.#nextEsc < start) this.#nextEsc = chunk.indexOf(ESC, start);
    const gather = this.#gather;
    const max = this.#maxPacketBytes;
    // Decoded, the bytes take at most their raw size (an escape pair decodes to one byte).
    const bound = gather.length + stop - start;
    if (!this.#escaped && (this.#nextEsc === -1 || this.#nextEsc >= stop)) {
      if (bound > max) return this.#drop(out, this.#tooLarge(bound));
      if (!gather.reserve(bound, final ? bound : max)) return this.#drop(out, new ServerBusyError(bound, false));
      gather.append(chunk, start, stop);
      return;
    }
    const needed = Math.min(bound, max);
    if (!gather.reserve(needed, final ? needed : max)) return this.#drop(out, new ServerBusyError(bound, false));
    const n = this.#unescape(chunk, start, stop, gather.bytes, gather.length);
    if (n < 0) {
      const byte = chunk[-n - 1]!;
      return this.#drop(
        out,
        new BadFrameError(`Bad SLIP escape: 0xDB followed by 0x${byte.toString(16).padStart(2, "0")}`, false),
      );
    }
    if (n > max) return this.#drop(out, this.#tooLarge(n));
    gather.length = n;
  }

  /**
   * Decodes `chunk[start, stop)` into `bytes` from `n`. Past the limit (the capacity is at least
   * min(bound, limit)) writes fall outside the buffer and are dropped; the caller checks the count.
   *
   * @returns the new count, or -(offset + 1) of a byte after ESC that is not a valid escape
   */
  #unescape(chunk: Uint8Array, start: number, stop: number, bytes: Uint8Array, n: number): number {
    let escaped = this.#escaped;
    for (let i = start; i < stop; i++) {
      const byte = chunk[i]!;
      if (escaped) {
        escaped = false;
        if (byte === ESC_END) bytes[n++] = END;
        else if (byte === ESC_ESC) bytes[n++] = ESC;
        else return -i - 1;
      } else if (byte === ESC) {
        escaped = true;
      } else {
        bytes[n++] = byte;
      }
    }
    this.#escaped = escaped;
    return n;
  }

  #tooLarge(sizeBytes: number): FrameTooLargeError {
    return new FrameTooLargeError(sizeBytes, this.#maxPacketBytes, false);
  }

  #finishFrame(out: Deframed[]): void {
    if (this.#escaped && !this.#dropping) {
      out.push(new BadFrameError("Bad SLIP escape: 0xDB followed by END", false));
      this.#gather.clear();
    } else if (!this.#dropping && this.#gather.length > 0) {
      out.push(this.#gather.take());
    } else {
      this.#gather.clear();
    }
    this.#escaped = false;
    this.#dropping = false;
  }

  /** Reports `error` and skips the rest of the frame, holding nothing. */
  #drop(out: Deframed[], error: FrameTooLargeError | BadFrameError | ServerBusyError): void {
    out.push(error);
    this.#dropping = true;
    this.#escaped = false;
    this.#gather.clear();
  }
}

/**
 * `TransformStream` from TCP chunks to arrays of packets and errors (see `DeframerStream`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SlipDeframer } from "./slip.ts";
 * const frames = ReadableStream.from([new Uint8Array([0xc0, 0x2f, 0x61, 0, 0, 0xc0])])
 *   .pipeThrough(new SlipDeframer({ maxPacketBytes: 64 }));
 * assert.ok((await Array.fromAsync(frames)).flat().length === 1);
 * ```
 */
export class SlipDeframer extends DeframerStream {
  /**
   * A deframer with a packet size limit.
   *
   * @param options the packet size limit
   */
  constructor(options: SlipOptions) {
    super(new SlipDecoder(options));
  }
}

/**
 * Frames one packet for SLIP: END, the escaped packet, END.
 *
 * @param packet the packet's bytes
 * @returns a new buffer holding the frame
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSlipFrame } from "./slip.ts";
 * assert.ok(encodeSlipFrame(new Uint8Array([0xc0, 0xdb])).join() === "192,219,220,219,221,192");
 * ```
 */
export function encodeSlipFrame(packet: Uint8Array): Uint8Array {
  let specials = 0;
  for (let i = 0; i < packet.length; i++) {
    const byte = packet[i]!;
    if (byte === END || byte === ESC) specials++;
  }
  const frame = new Uint8Array(packet.length + specials + 2);
  frame[0] = END;
  if (specials === 0) {
    frame.set(packet, 1);
  } else {
    let n = 1;
    for (let i = 0; i < packet.length; i++) {
      const byte = packet[i]!;
      if (byte === END) {
        frame[n++] = ESC;
        frame[n++] = ESC_END;
      } else if (byte === ESC) {
        frame[n++] = ESC;
        frame[n++] = ESC_ESC;
      } else {
        frame[n++] = byte;
      }
    }
  }
  frame[frame.length - 1] = END;
  return frame;
}
