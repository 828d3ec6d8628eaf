/**
 * OSC 1.1 stream framing: SLIP (RFC 1055) with double END.
 *
 * @module
 */

import { concatBytes } from "./concat.ts";
import { DeframerStream } from "./deframer_stream.ts";
import { BadFrameError, type Deframed, FrameTooLargeError } from "./errors.ts";

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
}

/**
 * Incremental SLIP decoder: feed it TCP chunks of any size, it appends whole packets
 * (and errors) to an array.
 *
 * A leading END is optional and empty frames are ignored. A bad escape or a frame over
 * the limit drops that frame only, with a non-fatal error, and decoding resumes after the
 * next END; a dropped frame holds no memory. A frame inside one chunk without escapes is
 * emitted as a view of the chunk (no copy).
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
  #pieces: Uint8Array[] = [];
  #frameBytes = 0;
  /** The previous chunk ended with ESC. */
  #escaped = false;
  /** The current frame is being dropped until the next END. */
  #dropping = false;
  /** The last piece is a view of the current chunk (copy it if the frame goes on past the chunk). */
  #lastPieceIsView = false;
  /** Offset of the next ESC in the current chunk, or -1. */
  #nextEsc = -1;

  /**
   * A decoder with a packet size limit.
   *
   * @param options the packet size limit
   */
  constructor(options: SlipOptions) {
    this.#maxPacketBytes = options.maxPacketBytes;
  }

  /** Bytes held for an incomplete frame (for memory accounting and tests). */
  get pendingBytes(): number {
    return this.#frameBytes;
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
      const stop = end === -1 ? chunk.length : end;
      if (stop > start) this.#append(chunk, start, stop, out);
      if (end === -1) break;
      this.#finishFrame(out);
      start = end + 1;
    }
    if (this.#lastPieceIsView) {
      const last = this.#pieces.length - 1;
      this.#pieces[last] = this.#pieces[last]!.slice();
      this.#lastPieceIsView = false;
    }
  }

  #append(chunk: Uint8Array, start: number, stop: number, out: Deframed[]): void {
    if (this.#dropping) return;
    // Searching for ESC from each frame's start to the chunk's end would be quadratic in
    // frames per chunk; the position of the next ESC only moves forward.
    if (this.#nextEsc !== -1 && this.#nextEsc < start) this.#nextEsc = chunk.indexOf(ESC, start);
    let piece: Uint8Array;
    if (!this.#escaped && (this.#nextEsc === -1 || this.#nextEsc >= stop)) {
      piece = chunk.subarray(start, stop);
      this.#lastPieceIsView = true;
    } else {
      const unescaped = this.#unescape(chunk, start, stop, out);
      if (unescaped === undefined) return;
      piece = unescaped;
      this.#lastPieceIsView = false;
    }
    if (this.#frameBytes + piece.length > this.#maxPacketBytes) {
      out.push(new FrameTooLargeError(this.#frameBytes + piece.length, this.#maxPacketBytes, false));
      this.#drop();
      return;
    }
    this.#pieces.push(piece);
    this.#frameBytes += piece.length;
  }

  #unescape(chunk: Uint8Array, start: number, stop: number, out: Deframed[]): Uint8Array | undefined {
    const piece = new Uint8Array(stop - start);
    let n = 0;
    for (let i = start; i < stop; i++) {
      const byte = chunk[i]!;
      if (this.#escaped) {
        this.#escaped = false;
        if (byte === ESC_END) piece[n++] = END;
        else if (byte === ESC_ESC) piece[n++] = ESC;
        else {
          out.push(
            new BadFrameError(`Bad SLIP escape: 0xDB followed by 0x${byte.toString(16).padStart(2, "0")}`, false),
          );
          this.#drop();
          return undefined;
        }
      } else if (byte === ESC) {
        this.#escaped = true;
      } else {
        piece[n++] = byte;
      }
    }
    return piece.subarray(0, n);
  }

  #finishFrame(out: Deframed[]): void {
    if (this.#escaped && !this.#dropping) {
      out.push(new BadFrameError("Bad SLIP escape: 0xDB followed by END", false));
    } else if (!this.#dropping && this.#frameBytes > 0) {
      out.push(this.#pieces.length === 1 ? this.#pieces[0]! : concatBytes(this.#pieces, this.#frameBytes));
    }
    this.#pieces = [];
    this.#frameBytes = 0;
    this.#escaped = false;
    this.#dropping = false;
    this.#lastPieceIsView = false;
  }

  #drop(): void {
    this.#dropping = true;
    this.#escaped = false;
    this.#pieces = [];
    this.#frameBytes = 0;
    this.#lastPieceIsView = false;
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
