/**
 * The free 64 KiB chunks that outboxes reuse, counted in the memory budget.
 *
 * @module
 */

import type { BudgetHolder, MemoryBudget } from "../limits/memory_budget.ts";

/** Size of each outbox chunk. */
export const CHUNK_BYTES = 64 * 1024;

/**
 * A new chunk, in memory of its own mapped from the system (a resizable `ArrayBuffer`, which V8
 * reserves and commits page by page) rather than from the C heap: its pages are committed only
 * as they are written, and when V8 collects it they go back to the system at once. A plain
 * 64 KiB buffer comes from malloc: zeroed (every page touched) when allocated, and once freed it
 * stays in the process's heap, fragmented (250 cut members' queues left the heap 27 MiB above
 * what was live).
 */
function newChunk(): Uint8Array {
  return new Uint8Array(new ArrayBuffer(CHUNK_BYTES, { maxByteLength: CHUNK_BYTES }));
}

/**
 * Gives a chunk's pages back to the system now (a chunk from `newChunk`; one from elsewhere is
 * left to the garbage collector). Only for a chunk nobody uses any more: no view of it is read
 * or written after this, and no write of it is in flight.
 */
function discard(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (buffer instanceof ArrayBuffer && buffer.resizable) buffer.resize(0);
}

/** Options of a chunk pool. */
export interface ChunkPoolOptions {
  /** Free chunks kept for reuse, at most; more go to the garbage collector. */
  maxFreeChunks: number;
  /** When given, free chunks are kept only while they fit in it, and the budget may take them back. */
  budget?: MemoryBudget;
}

/**
 * Free outbox chunks kept for reuse, so a burst needs no allocation and memory follows the bytes
 * pending. With a budget, the free chunks count in it like any client's bytes: a chunk is kept
 * only if it fits without cutting anyone (`tryCharge`), and when the budget is short the pool is
 * emptied first (it is a `spare` holder), before any client is cut.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChunkPool, CHUNK_BYTES } from "./chunk_pool.ts";
 * import { MemoryBudget } from "../limits/memory_budget.ts";
 * const budget = new MemoryBudget(3 * CHUNK_BYTES);
 * const pool = new ChunkPool({ maxFreeChunks: 10, budget });
 * const chunks = [pool.take(), pool.take(), pool.take(), pool.take()];
 * for (const chunk of chunks) pool.give(chunk);
 * assert.equal(pool.freeChunks, 3); // the fourth did not fit in the budget
 * assert.equal(budget.usedBytes, 3 * CHUNK_BYTES);
 * ```
 */
export class ChunkPool implements BudgetHolder {
  readonly peer = "the pool of free outbox chunks";
  /** Free chunks only: shed before any client. */
  readonly spare = true;
  #free: Uint8Array[] = [];
  #maxFreeChunks: number;
  #lastTakenAt = -Infinity;
  #budget: MemoryBudget | undefined;

  /**
   * An empty pool.
   *
   * @param options how many free chunks to keep, and the budget they count in
   */
  constructor(options: ChunkPoolOptions) {
    this.#maxFreeChunks = options.maxFreeChunks;
    this.#budget = options.budget;
  }

  /** Free chunks held. */
  get freeChunks(): number {
    return this.#free.length;
  }

  /**
   * A chunk to fill: a free one, or a new one.
   *
   * @returns a chunk of `CHUNK_BYTES`, owned by the caller until given back
   */
  take(): Uint8Array {
    const chunk = this.#free.pop();
    if (chunk === undefined) return newChunk();
    this.#lastTakenAt = performance.now();
    this.#budget?.charge(this, -CHUNK_BYTES);
    return chunk;
  }

  /**
   * Up to `count` free chunks, and nothing new: a taker calls it before asking the budget for
   * its chunks, so the pool's bytes pass to the taker instead of being dropped (shed) to make
   * room for new ones.
   *
   * @param count chunks wanted
   * @returns between 0 and `count` free chunks, owned by the caller
   */
  takeFree(count: number): Uint8Array[] {
    const n = Math.min(count, this.#free.length);
    if (n === 0) return [];
    const chunks = this.#free.splice(this.#free.length - n, n);
    this.#lastTakenAt = performance.now();
    this.#budget?.charge(this, -n * CHUNK_BYTES);
    return chunks;
  }

  /**
   * Takes a chunk back (kept for reuse if there is room, else left to the garbage collector).
   *
   * @param chunk a chunk from `take`, no longer used by its taker
   */
  give(chunk: Uint8Array): void {
    if (
      this.#free.length >= this.#maxFreeChunks ||
      (this.#budget !== undefined && !this.#budget.tryCharge(this, CHUNK_BYTES))
    ) {
      discard(chunk);
      return;
    }
    this.#free.push(chunk);
  }

  /**
   * Drops enough free chunks to give back `bytes` (all of them if they hold less), so a budget
   * short of a little room does not turn every free chunk into garbage at once.
   *
   * @param bytes the room needed
   */
  shrink(bytes: number): void {
    const n = Math.min(this.#free.length, Math.ceil(bytes / CHUNK_BYTES));
    if (n === 0) return;
    for (const chunk of this.#free.splice(this.#free.length - n, n)) discard(chunk);
    this.#budget?.charge(this, -n * CHUNK_BYTES);
  }

  /**
   * Keeps at most `chunks` free chunks (the rest go to the garbage collector): a server trims its
   * pool once it has not been drawn on for a while, so the memory of a past burst goes back.
   *
   * @param chunks free chunks to keep
   */
  trim(chunks: number): void {
    if (this.#free.length > chunks) this.shrink((this.#free.length - chunks) * CHUNK_BYTES);
  }

  /** When a chunk was last taken from the pool (`performance.now()`), or -Infinity. */
  get lastTakenAt(): number {
    return this.#lastTakenAt;
  }

  /**
   * The budget took the free chunks' bytes back: let them go.
   *
   * @param _reason unused: dropping free chunks affects no client
   */
  shed(_reason: string): void {
    for (const chunk of this.#free) discard(chunk);
    this.#free = [];
  }
}
