/**
 * Per-connection bounded write queue with batched writes.
 *
 * @module
 */

/** Where an outbox writes: a `Deno.Conn` or a test double. */
export interface ByteSink {
  /** Writes some of `bytes`; resolves to how many were written. */
  write(bytes: Uint8Array): Promise<number>;
}

/** First size of a connection's buffer; it doubles as needed, up to the queue bound. */
const INITIAL_BUFFER_BYTES = 16 * 1024;
/** A buffer larger than this is dropped once written, so an idle connection holds little. */
const KEEP_BUFFER_BYTES = 64 * 1024;

/**
 * Queues frames for one connection and writes whatever is queued in one write: it never
 * waits to fill a batch, so a lone message goes out at once, and a burst goes out in few
 * system calls.
 *
 * Frames are copied into the outbox's own buffer as they are pushed (two buffers: one
 * being written, one filling), so a delivery costs one small copy and no allocation, and
 * the bytes held are exactly the bytes counted. Bounded: a frame that would take the
 * pending bytes past `maxQueueBytes` is refused and `onOverflow` is called once (the
 * slow-consumer policy lives there).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Outbox } from "./outbox.ts";
 * const writes: number[] = [];
 * const outbox = new Outbox({ write: (b) => { writes.push(b.length); return Promise.resolve(b.length); } }, {
 *   maxQueueBytes: 100, onOverflow: () => {}, onError: () => {},
 * });
 * outbox.push(new Uint8Array(10));
 * outbox.pushLengthPrefixed(new Uint8Array(16));
 * await outbox.drained();
 * assert.deepEqual(writes, [30]); // pushed in one turn: one write
 * ```
 */
export class Outbox {
  #sink: ByteSink;
  #maxQueueBytes: number;
  #onOverflow: () => void;
  #onError: (error: unknown) => void;
  /** The buffer being filled, and how much of it is filled. */
  #buffer: Uint8Array | undefined;
  #filled = 0;
  /** A written buffer kept for reuse. */
  #spare: Uint8Array | undefined;
  /** Bytes handed to the sink and not yet all written. */
  #inFlight = 0;
  #writing: Promise<void> | undefined;
  #stopped = false;

  /**
   * @param sink where to write
   * @param options the byte bound, and what to do on overflow or on a write error
   */
  constructor(
    sink: ByteSink,
    options: { maxQueueBytes: number; onOverflow: () => void; onError: (error: unknown) => void },
  ) {
    this.#sink = sink;
    this.#maxQueueBytes = options.maxQueueBytes;
    this.#onOverflow = options.onOverflow;
    this.#onError = options.onError;
  }

  /** Bytes queued or being written. */
  get pendingBytes(): number {
    return this.#filled + this.#inFlight;
  }

  /**
   * Queues a frame (copied: the caller may reuse it).
   *
   * @param frame the bytes to send
   * @returns false if the outbox is stopped or the frame would pass the bound
   */
  push(frame: Uint8Array): boolean {
    const at = this.#reserve(frame.length);
    if (at < 0) return false;
    this.#buffer!.set(frame, at);
    return true;
  }

  /**
   * Queues a packet preceded by its size (OSC 1.0 framing) without building the frame first.
   *
   * @param packet the packet (copied)
   * @returns false if the outbox is stopped or the frame would pass the bound
   */
  pushLengthPrefixed(packet: Uint8Array): boolean {
    const at = this.#reserve(packet.length + 4);
    if (at < 0) return false;
    const buffer = this.#buffer!;
    const size = packet.length;
    buffer[at] = size >>> 24;
    buffer[at + 1] = (size >>> 16) & 0xff;
    buffer[at + 2] = (size >>> 8) & 0xff;
    buffer[at + 3] = size & 0xff;
    buffer.set(packet, at + 4);
    return true;
  }

  /**
   * Waits until everything queued so far is written (or the outbox stopped).
   *
   * @returns a promise that never rejects
   */
  async drained(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  /** Drops what is queued and refuses further frames. */
  stop(): void {
    this.#stopped = true;
    this.#buffer = this.#spare = undefined;
    this.#filled = 0;
  }

  /** Makes room for `n` bytes; returns where they go, or -1 when refused. */
  #reserve(n: number): number {
    if (this.#stopped) return -1;
    if (this.pendingBytes + n > this.#maxQueueBytes) {
      this.stop();
      this.#onOverflow();
      return -1;
    }
    const needed = this.#filled + n;
    let buffer = this.#buffer;
    if (buffer === undefined || buffer.length < needed) {
      const grown = new Uint8Array(Math.max(needed, INITIAL_BUFFER_BYTES, 2 * (buffer?.length ?? 0)));
      if (buffer !== undefined) grown.set(buffer.subarray(0, this.#filled));
      this.#buffer = buffer = grown;
    }
    const at = this.#filled;
    this.#filled = needed;
    this.#writing ??= this.#writeLoop();
    return at;
  }

  async #writeLoop(): Promise<void> {
    // Start on a microtask so that frames pushed in the same turn (a burst read in one
    // chunk) go out together.
    await Promise.resolve();
    try {
      while (this.#filled > 0 && !this.#stopped) {
        const buffer = this.#buffer!;
        const length = this.#filled;
        this.#inFlight = length;
        this.#buffer = this.#spare;
        this.#spare = undefined;
        this.#filled = 0;
        let written = 0;
        while (written < length) {
          written += await this.#sink.write(buffer.subarray(written, length));
          if (this.#stopped) return;
        }
        this.#inFlight = 0;
        if (buffer.length <= KEEP_BUFFER_BYTES) {
          if (this.#buffer === undefined) this.#buffer = buffer;
          else this.#spare = buffer;
        }
      }
    } catch (error) {
      this.stop();
      this.#onError(error);
    } finally {
      this.#inFlight = 0;
      this.#writing = undefined;
    }
  }
}
