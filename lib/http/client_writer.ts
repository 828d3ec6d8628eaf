/**
 * What the HTTP port writes to one long-lived client (a WebSocket, an event stream): the
 * server's bounded outbox, with every queued byte charged to the router's memory budget and a
 * write deadline.
 *
 * @module
 */

import type { BudgetHolder, MemoryBudget } from "../limits/memory_budget.ts";
import { Outbox } from "../server/outbox.ts";

/** Settings of a {@link ClientWriter}. */
export interface ClientWriterOptions {
  /** The router's budget (`Server.budget`). */
  budget: MemoryBudget;
  /** Bytes that may wait for this client; more cuts it off (`onOverflow`). */
  maxQueueBytes: number;
  /** A client that takes no byte for this long while bytes wait is cut off (`onWriteTimeout`). */
  writeTimeoutMs: number;
  onOverflow: () => void;
  onWriteTimeout: () => void;
  onError: (error: unknown) => void;
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
 * const written: number[] = [];
 * const release = Promise.withResolvers<void>();
 * // A socket that takes everything once `release` resolves.
 * const sink = { write: (b: Uint8Array) => release.promise.then(() => written.push(b.length) && b.length) };
 * const holder = { peer: "test", shed: () => {} };
 * const writer = new ClientWriter(sink, holder, {
 *   budget, maxQueueBytes: 4096, writeTimeoutMs: 1000, onOverflow() {}, onWriteTimeout() {}, onError() {},
 * });
 * assert.ok(writer.push(new Uint8Array(2), new Uint8Array(100)));
 * assert.equal(budget.heldBy(holder), 102);
 * release.resolve();
 * await writer.drained();
 * assert.equal(budget.heldBy(holder), 0); // given back as it is written
 * assert.deepEqual(written, [102]);
 * writer.stop();
 * ```
 */
export class ClientWriter {
  #outbox: Outbox;
  #holder: BudgetHolder;
  #options: ClientWriterOptions;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /**
   * @param sink the socket (`Deno.TcpConn`)
   * @param holder who the bytes are charged to
   * @param options bounds and what to do when one is passed
   */
  constructor(sink: { write(bytes: Uint8Array): Promise<number> }, holder: BudgetHolder, options: ClientWriterOptions) {
    this.#holder = holder;
    this.#options = options;
    this.#outbox = new Outbox({
      write: async (bytes) => {
        const n = await sink.write(bytes);
        options.budget.charge(holder, -n);
        clearTimeout(this.#deadline);
        this.#deadline = undefined;
        if (this.#outbox.pendingBytes > n) this.#arm(); // progress: a new deadline for the rest
        return n;
      },
    }, { maxQueueBytes: options.maxQueueBytes, onOverflow: options.onOverflow, onError: options.onError });
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number {
    return this.#outbox.pendingBytes;
  }

  /**
   * Queues bytes (copied) as one unit: all of them or none.
   *
   * @param parts the bytes, in order
   * @returns false when dropped: the budget refused them, the queue overflowed or the writer stopped
   */
  push(...parts: Uint8Array[]): boolean {
    if (this.#stopped) return false;
    let total = 0;
    for (const p of parts) total += p.length;
    if (this.#outbox.pendingBytes + total > this.#options.maxQueueBytes) {
      this.stop();
      this.#options.onOverflow();
      return false;
    }
    if (!this.#options.budget.charge(this.#holder, total)) return false;
    for (const p of parts) this.#outbox.push(p);
    if (this.#deadline === undefined) this.#arm();
    return true;
  }

  /**
   * Waits until everything queued so far is written (or the writer stopped).
   *
   * @returns a promise that never rejects
   */
  drained(): Promise<void> {
    return this.#outbox.drained();
  }

  /** Drops what is queued, gives its bytes back to the budget, refuses more. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#outbox.stop();
    this.#options.budget.release(this.#holder);
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      if (this.#outbox.pendingBytes > 0 && !this.#stopped) this.#options.onWriteTimeout();
    }, this.#options.writeTimeoutMs);
  }
}
