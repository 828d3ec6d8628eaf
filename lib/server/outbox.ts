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

/**
 * Size of each outbox's batch buffer: frames queued together are copied into it and written
 * with one call. It is reused for every batch (allocated on first need), so a busy connection
 * makes no garbage per write; a frame larger than this is written on its own.
 */
const BATCH_BYTES = 64 * 1024;

/**
 * Queues frames for one connection and writes whatever is queued in one write: it never
 * waits to fill a batch, so a lone message goes out at once, and a burst goes out in few
 * system calls. Bounded: a frame that would take the pending bytes past `maxQueueBytes`
 * is refused and `onOverflow` is called once (the slow-consumer policy lives there).
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
 * outbox.push(new Uint8Array(20));
 * await outbox.drained();
 * assert.deepEqual(writes, [30]); // pushed in one turn: one write
 * ```
 */
export class Outbox {
  #sink: ByteSink;
  #maxQueueBytes: number;
  #onOverflow: () => void;
  #onError: (error: unknown) => void;
  #queue: Uint8Array[] = [];
  /** Bytes queued or being written. */
  #pendingBytes = 0;
  #writing: Promise<void> | undefined;
  #stopped = false;
  #batchBuffer: Uint8Array | undefined;

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
    return this.#pendingBytes;
  }

  /**
   * Queues a frame (shared with other outboxes: it is never modified).
   *
   * @param frame the bytes to send
   * @returns false if the outbox is stopped or the frame would pass the bound
   */
  push(frame: Uint8Array): boolean {
    if (this.#stopped) return false;
    if (this.#pendingBytes + frame.length > this.#maxQueueBytes) {
      this.#stopped = true;
      this.#queue = [];
      this.#onOverflow();
      return false;
    }
    this.#queue.push(frame);
    this.#pendingBytes += frame.length;
    this.#writing ??= this.#writeLoop();
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
    this.#queue = [];
  }

  async #writeLoop(): Promise<void> {
    // Start on a microtask so that frames pushed in the same turn (a burst read in one
    // chunk) go out together.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        const batch = this.#takeBatch();
        let written = 0;
        while (written < batch.length) {
          written += await this.#sink.write(written === 0 ? batch : batch.subarray(written));
          if (this.#stopped) return;
        }
        this.#pendingBytes -= batch.length;
      }
    } catch (error) {
      this.#stopped = true;
      this.#queue = [];
      this.#onError(error);
    } finally {
      this.#writing = undefined;
    }
  }

  #takeBatch(): Uint8Array {
    const queue = this.#queue;
    const first = queue[0]!;
    if (queue.length === 1 || first.length + queue[1]!.length > BATCH_BYTES) {
      queue.shift();
      return first;
    }
    const buffer = this.#batchBuffer ??= new Uint8Array(BATCH_BYTES);
    let count = 0;
    let bytes = 0;
    while (count < queue.length && bytes + queue[count]!.length <= BATCH_BYTES) {
      buffer.set(queue[count]!, bytes);
      bytes += queue[count++]!.length;
    }
    this.#queue = count === queue.length ? [] : queue.slice(count);
    return buffer.subarray(0, bytes);
  }
}
