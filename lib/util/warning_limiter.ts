/**
 * Rate limit for warnings, so a flood of bad input cannot fill the disk.
 *
 * @module
 */

import { TokenBucket } from "./token_bucket.ts";

/**
 * A token bucket over warnings: at most `burst` at once, refilled at `perSecond`.
 * Reports how many were suppressed when the next one is allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WarningLimiter } from "./warning_limiter.ts";
 * let now = 0;
 * const limiter = new WarningLimiter({ burst: 2, perSecond: 1, now: () => now });
 * assert.equal(limiter.take(), 0);
 * assert.equal(limiter.take(), 0);
 * assert.equal(limiter.take(), -1); // suppressed
 * now = 1000;
 * assert.equal(limiter.take(), 1); // allowed; one was suppressed before it
 * ```
 */
export class WarningLimiter {
  #now: () => number;
  #bucket: TokenBucket;
  #suppressed = 0;

  /**
   * A limiter with a full bucket.
   *
   * @param options burst size, refill rate, and a clock in milliseconds
   */
  constructor(options: { burst: number; perSecond: number; now?: () => number }) {
    this.#now = options.now ?? Date.now;
    this.#bucket = new TokenBucket(options.perSecond, options.burst, this.#now());
  }

  /**
   * Asks to log one warning.
   *
   * @returns -1 if it must be suppressed; otherwise how many were suppressed since the last allowed one
   */
  take(): number {
    this.#bucket.take(0, this.#now());
    if (this.#bucket.tokens < 1) {
      this.#suppressed++;
      return -1;
    }
    this.#bucket.spend(1);
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}
