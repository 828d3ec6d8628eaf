/**
 * The one timer behind the router's user-list pacing: the router (which has no timers) asks
 * for a flush in some milliseconds; this keeps a single timer set to the earliest request.
 *
 * @module
 */

/**
 * Calls `flush` once after the earliest requested delay; later requests for a later time are
 * folded into it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UserListTimer } from "./user_list_timer.ts";
 * let flushed = 0;
 * const timer = new UserListTimer(() => flushed++);
 * timer.schedule(5);
 * timer.schedule(50); // folded into the first
 * await new Promise((resolve) => setTimeout(resolve, 20));
 * assert.equal(flushed, 1);
 * timer.stop();
 * ```
 */
export class UserListTimer {
  #flush: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dueAt = Infinity;
  #stopped = false;

  /**
   * A timer that calls `flush` when it is due.
   *
   * @param flush what to call (the router's `flushUserLists`)
   */
  constructor(flush: () => void) {
    this.#flush = flush;
  }

  /**
   * Asks for a flush in `delayMs` (the router's `onUserListsPending`).
   *
   * @param delayMs milliseconds from now
   */
  schedule(delayMs: number): void {
    if (this.#stopped) return;
    const dueAt = Date.now() + delayMs;
    if (this.#timer !== undefined && this.#dueAt <= dueAt) return;
    clearTimeout(this.#timer);
    this.#dueAt = dueAt;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#dueAt = Infinity;
      this.#flush();
    }, Math.max(0, delayMs));
  }

  /** Cancels the timer; later requests are ignored. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
