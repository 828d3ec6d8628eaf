/**
 * Per-connection bounded write queue with batched writes.
 *
 * @module
 */

import { concatBytes } from "../framing/concat.ts";

/** Where an outbox writes: a `Deno.Conn` or a test double. */
export interface ByteSink {
  /** Writes some of `bytes`; resolves to how many were written. */
  write(bytes: Uint8Array): Promise<number>;
}

/** Largest single write: batches are cut here so a batch's copy stays small. */
const MAX_BATCH_BYTES = 256 * 1024;

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
    if (queue.length === 1 || queue[0]!.length >= MAX_BATCH_BYTES) return queue.shift()!;
    let count = 0;
    let bytes = 0;
    while (count < queue.length && bytes + queue[count]!.length <= MAX_BATCH_BYTES) bytes += queue[count++]!.length;
    const batch = concatBytes(queue.slice(0, count), bytes);
    this.#queue = count === queue.length ? [] : queue.slice(count);
    return batch;
  }
}
