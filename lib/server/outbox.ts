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
 * Outboxes hold their bytes in fixed 64 KiB chunks from a shared pool: a burst needs no
 * reallocation or copy as it grows, memory follows the bytes actually pending, and chunks
 * return to the pool (not to the garbage collector) once written.
 */
const CHUNK_BYTES = 64 * 1024;
/** Free chunks kept for reuse, at most (16 MiB); more go to the garbage collector. */
const POOL_MAX_CHUNKS = 256;
const pool: Uint8Array[] = [];

function takeChunk(): Uint8Array {
  return pool.pop() ?? new Uint8Array(CHUNK_BYTES);
}

function giveChunk(chunk: Uint8Array): void {
  if (pool.length < POOL_MAX_CHUNKS) pool.push(chunk);
}

/**
 * Queues frames for one connection and writes whatever is queued: it never waits to fill
 * a batch, so a lone message goes out at once, and a burst goes out in 64 KiB writes.
 *
 * Frames are copied into the outbox's chunks as they are pushed (a length prefix is written
 * in place), so a delivery costs one small copy and no allocation, and the bytes held are
 * exactly the bytes counted. Bounded: a frame that would take the pending bytes past
 * `maxQueueBytes` is refused and `onOverflow` is called once (the slow-consumer policy lives
 * there).
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
  /** Pending bytes: from `#headSent` in the first chunk to `#tailFilled` in the last. */
  #chunks: Uint8Array[] = [];
  #headSent = 0;
  #tailFilled = 0;
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
   * Queues a frame (copied: the caller may reuse it).
   *
   * @param frame the bytes to send
   * @returns false if the outbox is stopped or the frame would pass the bound
   */
  push(frame: Uint8Array): boolean {
    if (!this.#admit(frame.length)) return false;
    this.#append(frame);
    return true;
  }

  /**
   * Queues a packet preceded by its size (OSC 1.0 framing) without building the frame first.
   *
   * @param packet the packet (copied)
   * @returns false if the outbox is stopped or the frame would pass the bound
   */
  pushLengthPrefixed(packet: Uint8Array): boolean {
    if (!this.#admit(packet.length + 4)) return false;
    const size = packet.length;
    const chunk = this.#chunks.at(-1);
    if (chunk !== undefined && this.#tailFilled + 4 <= CHUNK_BYTES) {
      const at = this.#tailFilled;
      chunk[at] = size >>> 24;
      chunk[at + 1] = (size >>> 16) & 0xff;
      chunk[at + 2] = (size >>> 8) & 0xff;
      chunk[at + 3] = size & 0xff;
      this.#tailFilled += 4;
    } else {
      this.#append(Uint8Array.of(size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff));
    }
    this.#append(packet);
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
    this.#release();
  }

  #admit(n: number): boolean {
    if (this.#stopped) return false;
    if (this.#pendingBytes + n > this.#maxQueueBytes) {
      this.stop();
      this.#onOverflow();
      return false;
    }
    this.#pendingBytes += n;
    this.#writing ??= this.#writeLoop();
    return true;
  }

  #append(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      let chunk = this.#chunks.at(-1);
      if (chunk === undefined || this.#tailFilled === CHUNK_BYTES) {
        chunk = takeChunk();
        this.#chunks.push(chunk);
        this.#tailFilled = 0;
      }
      const n = Math.min(bytes.length - from, CHUNK_BYTES - this.#tailFilled);
      chunk.set(n === bytes.length ? bytes : bytes.subarray(from, from + n), this.#tailFilled);
      this.#tailFilled += n;
      from += n;
    }
  }

  #release(): void {
    // A chunk being written stays out of the pool until its write has settled.
    const inFlight = this.#writing !== undefined ? this.#chunks[0] : undefined;
    for (const chunk of this.#chunks) if (chunk !== inFlight) giveChunk(chunk);
    this.#chunks = [];
    this.#headSent = this.#tailFilled = this.#pendingBytes = 0;
  }

  async #writeLoop(): Promise<void> {
    // Start on a microtask so that frames pushed in the same turn (a burst read in one
    // chunk) go out together.
    await Promise.resolve();
    try {
      while (this.#pendingBytes > 0 && !this.#stopped) {
        const head = this.#chunks[0]!;
        const end = this.#chunks.length === 1 ? this.#tailFilled : CHUNK_BYTES;
        const n = await this.#sink.write(head.subarray(this.#headSent, end));
        if (this.#stopped) return;
        this.#headSent += n;
        this.#pendingBytes -= n;
        // Frames may have been appended to this chunk while it was being written: only a full
        // chunk that is not the last one is done; the last one is done once caught up.
        if (this.#chunks.length > 1 && this.#headSent === CHUNK_BYTES) {
          giveChunk(this.#chunks.shift()!);
          this.#headSent = 0;
        } else if (this.#chunks.length === 1 && this.#headSent === this.#tailFilled) {
          // Caught up: hand the chunk back, so an idle connection holds no buffer.
          giveChunk(this.#chunks.pop()!);
          this.#headSent = this.#tailFilled = 0;
        }
      }
    } catch (error) {
      this.stop();
      this.#onError(error);
    } finally {
      this.#writing = undefined;
    }
  }
}
