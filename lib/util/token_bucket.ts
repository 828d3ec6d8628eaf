/**
 * A token bucket for byte rates: it earns `ratePerSecond` tokens a second up to `burst`, and may
 * be spent below zero; how long it then takes to earn its way back to zero is the wait.
 *
 * @module
 */

/**
 * A token bucket that may go into debt.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { TokenBucket } from "./token_bucket.ts";
 * const bucket = new TokenBucket(1000, 500, 0); // 1,000 a second, at most 500 saved
 * assert.equal(bucket.take(400, 0), 0); // within the burst: no wait
 * assert.equal(bucket.take(600, 0), 500); // 500 in debt: half a second at 1,000 a second
 * bucket.spend(100); // spent without earning first
 * assert.equal(bucket.tokens, -600);
 * assert.equal(bucket.take(0, 1000), 0); // a second later it has earned 1,000
 * ```
 */
export class TokenBucket {
  #tokens: number;
  #at: number;
  readonly #perMs: number;
  readonly #burst: number;

  /**
   * A full bucket.
   *
   * @param ratePerSecond tokens earned a second
   * @param burst most tokens saved
   * @param now the clock (ms), as later given to `take`
   */
  constructor(ratePerSecond: number, burst: number, now: number = performance.now()) {
    this.#perMs = ratePerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Tokens now (negative: in debt), as of the last `take`. */
  get tokens(): number {
    return this.#tokens;
  }

  /**
   * Spends `n` tokens without earning first (the next `take` counts the time since the last).
   *
   * @param n tokens spent
   */
  spend(n: number): void {
    this.#tokens -= n;
  }

  /**
   * Earns what the time since the last `take` is worth (up to the burst), then spends `n`.
   *
   * @param n tokens spent (0 to earn only)
   * @param now the clock (ms)
   * @returns how long until the bucket is back at zero (ms), 0 when it is not in debt
   */
  take(n: number, now: number): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs) - n;
    this.#at = now;
    return this.#tokens >= 0 ? 0 : -this.#tokens / this.#perMs;
  }
}
