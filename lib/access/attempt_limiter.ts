/**
 * Per-address limits on registering: a rate limit on every register, and a backoff after
 * failed ones (wrong passwords), so that one address cannot guess a group's password.
 * Pure logic with an injected clock: the router asks it, no timers run.
 *
 * @module
 */

/** Settings of an {@linkcode AttemptLimiter}; every field has a default. */
export interface AttemptLimiterOptions {
  /** Registers one address may make per second, on average. */
  registersPerSecond: number;
  /** Registers one address may make at once (a band behind one NAT arriving together). */
  registerBurst: number;
  /** Failures in the leaky bucket (each adds 1) at which the backoff starts. */
  failureThreshold: number;
  /** The bucket leaks one failure per this many milliseconds: the most an address may fail, sustained, without a lock. */
  failureLeakMs: number;
  /** The first refusal period; each further failure doubles it. */
  firstLockMs: number;
  /** The longest refusal period. */
  maxLockMs: number;
  /** An address with no failure for this long is forgiven (its backoff starts over). */
  quietMs: number;
  /** Addresses tracked at most; the least recently seen is forgotten first. */
  maxAddresses: number;
  /** Clock in milliseconds. */
  now: () => number;
}

/**
 * The defaults: 10 registers/s with a burst of 64; failures leak out one per 3 min (20 an hour), and
 * 5 not yet leaked lock the address for 1 s, then 2 s, 4 s … 15 min per further failure.
 */
export const DEFAULT_ATTEMPT_LIMITS: Omit<AttemptLimiterOptions, "now"> = {
  registersPerSecond: 10,
  registerBurst: 64,
  failureThreshold: 5,
  failureLeakMs: 3 * 60_000,
  firstLockMs: 1_000,
  maxLockMs: 15 * 60_000,
  quietMs: 30 * 60_000,
  maxAddresses: 10_000,
};

/** Why a register was refused, and when the address may try again. */
export interface AttemptRefusal {
  /** "rate": too many registers per second; "backoff": too many failures. */
  reason: "rate" | "backoff";
  /** Milliseconds until a register from the address is accepted again (at least 1). */
  retryAfterMs: number;
}

interface AddressState {
  tokens: number;
  tokensAt: number;
  /** Failures not yet leaked out of the bucket (fractional), as of `lastFailureAt`. */
  failures: number;
  /** Locks so far since the address was last forgiven; the next lock lasts firstLockMs * 2^level. */
  level: number;
  lockedUntil: number;
  lastFailureAt: number;
}

/**
 * Tracks registers and failures per address (`Session.address`: an IPv4 address or an IPv6 /64).
 *
 * - Every register takes a token from the address's bucket (`registersPerSecond`, `registerBurst`);
 *   an empty bucket refuses.
 * - Failures fill a leaky bucket: each adds 1, and 1 leaks out every `failureLeakMs`. When a
 *   failure brings it to `failureThreshold`, the address is refused for `firstLockMs`; every
 *   further failure, until the address is forgiven, locks it again for twice as long as the last
 *   lock, up to `maxLockMs`. So an address that never waits for a lock fails at most
 *   `failureThreshold - 1` times at once, then one per `failureLeakMs` (20 an hour by default).
 * - A success does not erase failures (an attacker could interleave logins to a group of its
 *   own): they leak out, and the backoff is forgiven after `quietMs` without a failure.
 *
 * @example After five failures, the sixth register must wait a second
 * ```ts
 * import assert from "node:assert/strict";
 * import { AttemptLimiter } from "./attempt_limiter.ts";
 * let now = 0;
 * const limiter = new AttemptLimiter({ now: () => now });
 * for (let i = 0; i < 5; i++) {
 *   assert.equal(limiter.check("203.0.113.5"), undefined);
 *   limiter.fail("203.0.113.5");
 * }
 * assert.deepEqual(limiter.check("203.0.113.5"), { reason: "backoff", retryAfterMs: 1000 });
 * assert.equal(limiter.check("198.51.100.7"), undefined, "other addresses are not slowed");
 * now = 1000;
 * assert.equal(limiter.check("203.0.113.5"), undefined);
 * ```
 */
export class AttemptLimiter {
  /** The limits in force. */
  readonly options: AttemptLimiterOptions;
  #states = new Map<string, AddressState>();

  /**
   * A limiter that knows no address yet.
   *
   * @param options limits and clock; unset fields take {@linkcode DEFAULT_ATTEMPT_LIMITS}
   */
  constructor(options: Partial<AttemptLimiterOptions> = {}) {
    this.options = { ...DEFAULT_ATTEMPT_LIMITS, now: Date.now, ...options };
  }

  /** Addresses currently tracked. */
  get size(): number {
    return this.#states.size;
  }

  /**
   * Asks to register from `address`: takes a token unless the address is locked.
   *
   * @param address the per-address key
   * @returns undefined when allowed; otherwise why not and when to retry
   */
  check(address: string): AttemptRefusal | undefined {
    const now = this.options.now();
    const state = this.#touch(address, now);
    if (now < state.lockedUntil) return { reason: "backoff", retryAfterMs: Math.max(1, state.lockedUntil - now) };
    const { registersPerSecond, registerBurst } = this.options;
    state.tokens = Math.min(registerBurst, state.tokens + (now - state.tokensAt) * registersPerSecond / 1000);
    state.tokensAt = now;
    if (state.tokens < 1) {
      return { reason: "rate", retryAfterMs: Math.max(1, Math.ceil((1 - state.tokens) * 1000 / registersPerSecond)) };
    }
    state.tokens--;
    return undefined;
  }

  /**
   * Records a failed register (a wrong password, an unknown group in closed mode).
   *
   * @param address the per-address key
   * @returns the lock it started, in milliseconds, or 0 when the address is not locked
   */
  fail(address: string): number {
    const now = this.options.now();
    const state = this.#touch(address, now);
    const o = this.options;
    state.failures = Math.max(0, state.failures - (now - state.lastFailureAt) / o.failureLeakMs) + 1;
    state.lastFailureAt = now;
    // A tiny epsilon: a failure exactly one leak period after the bucket was last at the threshold does not lock.
    if (state.level === 0 && state.failures < o.failureThreshold - 1e-9) return 0;
    const lockMs = Math.min(o.maxLockMs, o.firstLockMs * 2 ** Math.min(state.level, 40));
    state.level++;
    state.lockedUntil = now + lockMs;
    return lockMs;
  }

  /** The state of `address`, created if new, forgiven if quiet long enough; moved to the newest end. */
  #touch(address: string, now: number): AddressState {
    let state = this.#states.get(address);
    if (state !== undefined) {
      this.#states.delete(address);
      if (state.level > 0 && now - state.lastFailureAt >= this.options.quietMs && now >= state.lockedUntil) {
        state.level = 0;
        state.failures = 0;
      }
    } else {
      this.#sweep(now);
      state = {
        tokens: this.options.registerBurst,
        tokensAt: now,
        failures: 0,
        level: 0,
        lockedUntil: 0,
        lastFailureAt: -Infinity,
      };
    }
    this.#states.set(address, state);
    return state;
  }

  /** Forgets idle addresses, oldest first; over `maxAddresses`, forgets the oldest anyway. */
  #sweep(now: number): void {
    const o = this.options;
    for (const [address, state] of this.#states) {
      const full = state.tokens + (now - state.tokensAt) * o.registersPerSecond / 1000 >= o.registerBurst;
      const leaked = now - state.lastFailureAt >= state.failures * o.failureLeakMs;
      const quiet = (state.level > 0 ? now - state.lastFailureAt >= o.quietMs : leaked) &&
        now >= state.lockedUntil;
      if (full && quiet) this.#states.delete(address);
      else if (this.#states.size >= o.maxAddresses) this.#states.delete(address);
      else break;
    }
  }
}
