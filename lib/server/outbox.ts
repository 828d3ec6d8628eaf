/**
 * Per-connection bounded write queue with batched writes.
 *
 * @module
 */

import { CHUNK_BYTES, ChunkPool } from "./chunk_pool.ts";

/** Where an outbox writes: a `Deno.Conn` or a test double. */
export interface ByteSink {
  /** Writes some of `bytes`; resolves to how many were written. */
  write(bytes: Uint8Array): Promise<number>;
}

/** Why an outbox gave up on its client. */
export type OverflowCause = "queue" | "budget";

/** Settings of an outbox. */
export interface OutboxOptions {
  /** Most bytes pending; a frame that would pass it is an overflow. */
  maxQueueBytes: number;
  /**
   * Called once when a frame is refused: past `maxQueueBytes` ("queue"), or the grant refused a
   * chunk ("budget"). The outbox has stopped; the slow-consumer policy lives here.
   */
  onOverflow: (cause: OverflowCause) => void;
  /** Called once when a write fails; the outbox has stopped. */
  onError: (error: unknown) => void;
  /**
   * Asked before the outbox takes more chunks (a multiple of `CHUNK_BYTES`), told when it gives
   * some back (negative); a refusal is an overflow ("budget").
   */
  grant?: (deltaBytes: number) => boolean;
  /** Where chunks come from and go back to (default: a pool shared by the process, 16 MiB at most). */
  pool?: ChunkPool;
}

/**
 * Largest shared frame an idle outbox writes by reference instead of copying it into a chunk.
 * Such frames are not charged to the budget (a connection holds at most one, shared by every
 * recipient of the packet): 2,000 connections hold at most 8 MiB this way.
 */
export const SHARED_FRAME_MAX_BYTES = 4096;

const queued = { bytes: 0 };

/**
 * Bytes queued by every outbox of the process since it started: a sender's read loop reads it
 * before and after handling a packet to learn what delivering that packet cost.
 *
 * @returns the running total (bytes)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Outbox, queuedBytesTotal } from "./outbox.ts";
 * const outbox = new Outbox({ write: (b) => Promise.resolve(b.length) }, {
 *   maxQueueBytes: 100, onOverflow: () => {}, onError: () => {},
 * });
 * const before = queuedBytesTotal();
 * outbox.push(new Uint8Array(10));
 * assert.equal(queuedBytesTotal() - before, 10);
 * await outbox.drained();
 * ```
 */
export function queuedBytesTotal(): number {
  return queued.bytes;
}

/** Outboxes created without a pool share this one (16 MiB of free chunks at most). */
const sharedPool = new ChunkPool({ maxFreeChunks: 256 });

/**
 * Queues frames for one connection and writes whatever is queued: it never waits to fill
 * a batch, so a lone message goes out at once, and a burst goes out in 64 KiB writes.
 *
 * Frames are copied into the outbox's chunks (64 KiB each, from a pool) as they are pushed
 * (a length prefix is written in place), so a delivery costs one small copy and no allocation,
 * and the bytes held are exactly the bytes counted. Bounded twice: a frame that would take the
 * pending bytes past `maxQueueBytes`, or whose chunks the grant refuses, is refused and
 * `onOverflow` is called once (the slow-consumer policy lives there).
 *
 * An idle outbox given a small frame that is shared and never modified (`pushShared`) writes it
 * as it is: no chunk is taken, charged, copied into and given back for a lone message (most
 * deliveries at venue load: 250 groups of four, one message at a time per member). Anything
 * pushed after it is copied into chunks as usual, and goes out after it.
 *
 * Batching is explicit, and no step depends on how many microtasks another takes: the first
 * frame pushed while the outbox is idle schedules one flush with `queueMicrotask`, so every
 * frame pushed in the same task (a burst read in one chunk) goes out in the same write; frames
 * pushed while a write is in flight go out in the next write of the same flush. `drained`
 * waits on a promise the flush resolves when it ends (it never polls). A chunk being written is
 * never reused until its write has settled, whatever happens meanwhile (`stop` included).
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
 * assert.deepEqual(writes, [30]); // pushed in one task: one write
 * ```
 */
export class Outbox {
  #sink: ByteSink;
  #maxQueueBytes: number;
  #onOverflow: (cause: OverflowCause) => void;
  #onError: (error: unknown) => void;
  #grant: ((deltaBytes: number) => boolean) | undefined;
  #pool: ChunkPool;
  /** Pending bytes: from `#headSent` in the first chunk to `#tailFilled` in the last. */
  #chunks: Uint8Array[] = [];
  #headSent = 0;
  #tailFilled = 0;
  #pendingBytes = 0;
  /**
   * A shared frame written by reference (`pushShared`), ahead of the chunks; while it is not
   * being written, a later push copies it into the chunks first (one write for the batch).
   */
  #shared: Uint8Array | undefined;
  /** Chunks taken from the pool for the frame being pushed. */
  #spare: Uint8Array[] = [];
  /** A flush is scheduled or running. */
  #flushing = false;
  /** A write is in flight (its chunk, the first, must not be reused until it settles). */
  #writing = false;
  /** Since when the flush has made no progress (ms, `performance.now()`). */
  #progressAt = 0;
  /** Waiters of `drained`, resolved when the flush ends. */
  #idle: PromiseWithResolvers<void> | undefined;
  #stopped = false;

  /**
   * An empty outbox writing to `sink`.
   *
   * @param sink where to write
   * @param options the bounds, what to do on overflow or on a write error, where chunks come from
   */
  constructor(sink: ByteSink, options: OutboxOptions) {
    this.#sink = sink;
    this.#maxQueueBytes = options.maxQueueBytes;
    this.#onOverflow = options.onOverflow;
    this.#onError = options.onError;
    this.#grant = options.grant;
    this.#pool = options.pool ?? sharedPool;
  }

  /** Bytes queued or being written. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Bytes of the chunks held (what the queue costs in memory). */
  get heldBytes(): number {
    return this.#chunks.length * CHUNK_BYTES;
  }

  /**
   * How long bytes have been pending without any being written (the write deadline's measure).
   *
   * @param nowMs the time now (`performance.now()`)
   * @returns milliseconds since the last progress, or 0 when nothing is pending
   */
  stalledMs(nowMs: number): number {
    return this.#pendingBytes > 0 && !this.#stopped ? nowMs - this.#progressAt : 0;
  }

  /**
   * Queues a frame (copied: the caller may reuse it).
   *
   * @param frame the bytes to send
   * @returns false if the outbox is stopped or the frame was refused (an overflow)
   */
  push(frame: Uint8Array): boolean {
    if (!this.#admit(frame.length)) return false;
    this.#append(frame);
    return true;
  }

  /**
   * Queues a frame that nobody modifies (a packet's frame shared by its recipients): an idle
   * outbox keeps a reference to a small one and writes it as it is; otherwise it is copied.
   *
   * @param frame the bytes to send, unchanged until written
   * @returns false if the outbox is stopped or the frame was refused (an overflow)
   */
  pushShared(frame: Uint8Array): boolean {
    if (this.#pendingBytes !== 0 || frame.length > SHARED_FRAME_MAX_BYTES || this.#stopped) return this.push(frame);
    if (frame.length > this.#maxQueueBytes) return this.#overflow("queue");
    this.#shared = frame;
    this.#pendingBytes = frame.length;
    queued.bytes += frame.length;
    if (!this.#flushing) {
      this.#flushing = true;
      this.#progressAt = performance.now();
      queueMicrotask(() => this.#flush());
    }
    return true;
  }

  /** True when nothing is queued or being written: a shared frame pushed now is not copied. */
  get idle(): boolean {
    return this.#pendingBytes === 0;
  }

  /**
   * Queues a packet preceded by its size (OSC 1.0 framing) without building the frame first.
   *
   * @param packet the packet (copied)
   * @returns false if the outbox is stopped or the frame was refused (an overflow)
   */
  pushLengthPrefixed(packet: Uint8Array): boolean {
    const size = packet.length;
    const at = this.#tailFilled;
    // The common case in a burst: the frame fits in the last chunk, a flush is already due.
    if (
      at + size + 4 <= CHUNK_BYTES && this.#chunks.length > 0 && this.#shared === undefined &&
      this.#pendingBytes + size + 4 <= this.#maxQueueBytes && !this.#stopped
    ) {
      const tail = this.#chunks[this.#chunks.length - 1]!;
      tail[at] = size >>> 24;
      tail[at + 1] = (size >>> 16) & 0xff;
      tail[at + 2] = (size >>> 8) & 0xff;
      tail[at + 3] = size & 0xff;
      tail.set(packet, at + 4);
      this.#tailFilled = at + size + 4;
      this.#pendingBytes += size + 4;
      queued.bytes += size + 4;
      return true;
    }
    if (!this.#admit(size + 4)) return false;
    const chunk = this.#chunks.at(-1);
    if (chunk !== undefined && this.#tailFilled + 4 <= CHUNK_BYTES) {
      const at4 = this.#tailFilled;
      chunk[at4] = size >>> 24;
      chunk[at4 + 1] = (size >>> 16) & 0xff;
      chunk[at4 + 2] = (size >>> 8) & 0xff;
      chunk[at4 + 3] = size & 0xff;
      this.#tailFilled += 4;
    } else {
      this.#append(Uint8Array.of(size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff));
    }
    this.#append(packet);
    return true;
  }

  /**
   * Waits until everything queued so far is written, or the outbox stopped or failed.
   *
   * @returns a promise that never rejects
   */
  drained(): Promise<void> {
    if (!this.#flushing) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  /** Drops what is queued and refuses further frames. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    // The budget first: the pool keeps the chunks only if they fit in it.
    const held = this.#chunks.length * CHUNK_BYTES;
    if (held > 0) this.#grant?.(-held);
    // A chunk being written goes back to the pool when its write settles (see #flush).
    const inFlight = this.#flushing && this.#writing ? this.#chunks[0] : undefined;
    for (const chunk of this.#chunks) if (chunk !== inFlight) this.#pool.give(chunk);
    this.#chunks = [];
    this.#shared = undefined;
    this.#headSent = this.#tailFilled = this.#pendingBytes = 0;
  }

  #admit(n: number): boolean {
    if (this.#stopped) return false;
    // A shared frame not yet being written joins the chunks first, so the batch is one write.
    if (this.#shared !== undefined && !this.#writing && !this.#spillShared()) return false;
    if (this.#pendingBytes + n > this.#maxQueueBytes) return this.#overflow("queue");
    // Chunks this frame needs beyond the room left in the last one.
    const room = this.#chunks.length === 0 ? 0 : CHUNK_BYTES - this.#tailFilled;
    if (n > room && this.#grant !== undefined) {
      const chunks = Math.ceil((n - room) / CHUNK_BYTES);
      // Free chunks first: their bytes pass from the pool to this outbox, so a full budget
      // reuses them instead of dropping them to make room for new ones.
      this.#spare = this.#pool.takeFree(chunks);
      if (!this.#grant(chunks * CHUNK_BYTES)) {
        for (const chunk of this.#spare) this.#pool.give(chunk);
        this.#spare = [];
        return this.#overflow("budget");
      }
    }
    this.#pendingBytes += n;
    queued.bytes += n;
    if (!this.#flushing) {
      this.#flushing = true;
      this.#progressAt = performance.now();
      queueMicrotask(() => this.#flush());
    }
    return true;
  }

  /** Copies the waiting shared frame into the chunks (it stays first in line). */
  #spillShared(): boolean {
    const frame = this.#shared!;
    this.#shared = undefined;
    this.#pendingBytes -= frame.length;
    if (!this.#admit(frame.length)) return false;
    this.#append(frame);
    return true;
  }

  #overflow(cause: OverflowCause): false {
    this.stop();
    this.#onOverflow(cause);
    return false;
  }

  #append(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      let chunk = this.#chunks.at(-1);
      if (chunk === undefined || this.#tailFilled === CHUNK_BYTES) {
        chunk = this.#spare.pop() ?? this.#pool.take();
        this.#chunks.push(chunk);
        this.#tailFilled = 0;
      }
      const n = Math.min(bytes.length - from, CHUNK_BYTES - this.#tailFilled);
      chunk.set(n === bytes.length ? bytes : bytes.subarray(from, from + n), this.#tailFilled);
      this.#tailFilled += n;
      from += n;
    }
  }

  /** Gives back the first chunk (written, or caught up). */
  #releaseHead(): void {
    this.#grant?.(-CHUNK_BYTES);
    this.#pool.give(this.#chunks.shift()!);
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pendingBytes > 0 && !this.#stopped) {
        const shared = this.#shared;
        if (shared !== undefined) {
          this.#writing = true;
          let n: number;
          try {
            n = await this.#sink.write(shared);
          } finally {
            this.#writing = false;
          }
          if (this.#stopped) return;
          this.#progressAt = performance.now();
          this.#pendingBytes -= n;
          this.#shared = n < shared.length ? shared.subarray(n) : undefined;
          continue;
        }
        const head = this.#chunks[0]!;
        const end = this.#chunks.length === 1 ? this.#tailFilled : CHUNK_BYTES;
        let n: number;
        this.#writing = true;
        try {
          n = await this.#sink.write(head.subarray(this.#headSent, end));
        } finally {
          this.#writing = false;
          // Stopped while this chunk was being written: only now may it be reused.
          if (this.#stopped) this.#pool.give(head);
        }
        if (this.#stopped) return;
        this.#progressAt = performance.now();
        this.#headSent += n;
        this.#pendingBytes -= n;
        // Frames may have been appended to this chunk while it was being written: only a full
        // chunk that is not the last one is done; the last one is done once caught up.
        if (this.#chunks.length > 1 && this.#headSent === CHUNK_BYTES) {
          this.#releaseHead();
          this.#headSent = 0;
        } else if (this.#chunks.length === 1 && this.#headSent === this.#tailFilled) {
          // Caught up: hand the chunk back, so an idle connection holds no buffer.
          this.#releaseHead();
          this.#headSent = this.#tailFilled = 0;
        }
      }
    } catch (error) {
      if (!this.#stopped) {
        this.stop();
        this.#onError(error);
      }
    } finally {
      this.#flushing = false;
      const idle = this.#idle;
      this.#idle = undefined;
      idle?.resolve();
    }
  }
}
