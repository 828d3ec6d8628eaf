/**
 * What the HTTP port writes to one long-lived client (a WebSocket, an event stream): bytes handed
 * to the library's socket are counted until the socket reports them written, every counted byte
 * is charged to the router's memory budget, the count is bounded, and a client that takes nothing
 * for the write timeout is cut off.
 *
 * @module
 */

import type { BudgetHolder, MemoryBudget } from "../limits/memory_budget.ts";

/**
 * Where a {@link ClientWriter} writes: `ws.send(bytes, cb)` or `response.write(bytes, cb)`. The
 * callback runs once the bytes are handed to the system (Node stream semantics): until then
 * they wait in the process, and count.
 */
export interface WriteSink {
  /** Writes `bytes` and calls `done` once the system has them (or with the error). */
  write(bytes: Uint8Array, done: (error?: Error | null) => void): void;
  /**
   * True when `write` copies the bytes before it returns (as into a batch of frames): the
   * writer then hands over the caller's bytes instead of a copy.
   */
  readonly copies?: boolean;
}

/** Settings of a {@link ClientWriter}. */
export interface ClientWriterOptions {
  /** The router's budget (`Server.budget`). */
  budget: MemoryBudget;
  /** Bytes that may wait for this client; more cuts it off (`onOverflow`). */
  maxQueueBytes: number;
  /** A client that takes no byte for this long while bytes wait is cut off (`onWriteTimeout`). */
  writeTimeoutMs: number;
  /** Called when more than `maxQueueBytes` wait. */
  onOverflow: () => void;
  /** Called when no byte was taken for `writeTimeoutMs`. */
  onWriteTimeout: () => void;
}

/**
 * A bounded, budgeted writer to one socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBudget } from "../limits/memory_budget.ts";
 * import { ClientWriter } from "./client_writer.ts";
 * const budget = new MemoryBudget(1024 * 1024);
 * const done: (() => void)[] = [];
 * // A socket that reports each write done only when told to.
 * const sink = { write: (_bytes: Uint8Array, cb: () => void) => void done.push(cb) };
 * const holder = { peer: "test", shed: () => {} };
 * const writer = new ClientWriter(sink, holder, {
 *   budget, maxQueueBytes: 4096, writeTimeoutMs: 1000, onOverflow() {}, onWriteTimeout() {},
 * });
 * assert.ok(writer.push(new Uint8Array(100)));
 * assert.equal(budget.heldBy(holder), 100);
 * done.shift()!();
 * await writer.drained();
 * assert.equal(budget.heldBy(holder), 0); // given back once written
 * writer.stop();
 * ```
 */
export class ClientWriter {
  #sink: WriteSink;
  #holder: BudgetHolder;
  #options: ClientWriterOptions;
  #pendingBytes = 0;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /** When the socket last reported bytes written (or the queue last went from empty to not). */
  #progressAt = 0;
  #stopped = false;
  #drainWaiters: (() => void)[] = [];

  /**
   * A writer for one client.
   *
   * @param sink the library's socket
   * @param holder who the bytes are charged to
   * @param options bounds and what to do when one is passed
   */
  constructor(sink: WriteSink, holder: BudgetHolder, options: ClientWriterOptions) {
    this.#sink = sink;
    this.#holder = holder;
    this.#options = options;
  }

  /** Bytes handed to the socket and not yet reported written. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Copies `bytes` and writes them.
   *
   * @param bytes the bytes (copied: the caller may reuse them at once)
   * @returns false when dropped: the budget refused them, the bound was passed or the writer stopped
   */
  push(bytes: Uint8Array): boolean {
    if (this.#stopped) return false;
    const n = bytes.length;
    if (this.#pendingBytes + n > this.#options.maxQueueBytes) {
      this.stop();
      this.#options.onOverflow();
      return false;
    }
    if (!this.#options.budget.charge(this.#holder, n)) return false;
    if (this.#pendingBytes === 0) this.#progressAt = performance.now();
    this.#pendingBytes += n;
    if (this.#deadline === undefined) this.#arm(this.#options.writeTimeoutMs);
    this.#sink.write(this.#sink.copies ? bytes : bytes.slice(), () => this.#written(n));
    return true;
  }

  /**
   * Waits until everything pushed so far is written (or the writer stopped).
   *
   * @returns a promise that never rejects
   */
  drained(): Promise<void> {
    if (this.#stopped || this.#pendingBytes === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Forgets what is pending, gives its bytes back to the budget, refuses more. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#options.budget.release(this.#holder);
    this.#wake();
  }

  #written(n: number): void {
    if (this.#stopped) return;
    this.#pendingBytes -= n;
    this.#options.budget.charge(this.#holder, -n);
    this.#progressAt = performance.now();
    if (this.#pendingBytes === 0) {
      clearTimeout(this.#deadline);
      this.#deadline = undefined;
      this.#wake();
    }
  }

  #wake(): void {
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  /** One timer per writer, not one per write: on firing it checks the time of the last progress. */
  #arm(ms: number): void {
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      if (this.#stopped || this.#pendingBytes === 0) return;
      const idleMs = performance.now() - this.#progressAt;
      if (idleMs >= this.#options.writeTimeoutMs) this.#options.onWriteTimeout();
      else this.#arm(this.#options.writeTimeoutMs - idleMs);
    }, ms);
  }
}
