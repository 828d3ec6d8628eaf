/**
 * A LogTape filter that rate-limits the log lines a client can cause (connections, registers, leaves, refusals), so a
 * flood of connections costs the log a few lines a second, not one or more per connection.
 *
 * @module
 */

import { type Filter, getLogger, type LogLevel, type LogRecord } from "@logtape/logtape";
import { WarningLimiter } from "../util/warning_limiter.ts";

/** The limit of one category prefix (and every category under it). */
export interface FloodLimit {
  /** Category prefix, e.g. `["tcposcrouter", "connection"]`. */
  category: readonly string[];
  /** Lines let through at once per category and level. */
  burst: number;
  /** Lines let through per second after the burst. */
  perSecond: number;
}

/** Options of a {@linkcode FloodFilter}. */
export interface FloodFilterOptions {
  /** The limited categories (the first prefix that matches applies); others always pass. */
  limits: readonly FloodLimit[];
  /** Levels limited (default info, warning and error; debug is asked for, and never limited). */
  levels?: readonly string[];
  /** The clock, in milliseconds (for tests). */
  now?: () => number;
}

interface Bucket {
  category: readonly string[];
  level: LogLevel;
  limiter: WarningLimiter;
  suppressed: number;
}

/**
 * Lets each (category, level) of the listed categories log a burst, then a steady rate; every second in which lines
 * were held back it logs one line in their place: `N similar lines suppressed in the last second`, in the same
 * category and at the same level. Disposing it logs what is still counted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LogRecord } from "@logtape/logtape";
 * import { FloodFilter } from "./flood_filter.ts";
 *
 * const flood = new FloodFilter({ limits: [{ category: ["app", "connection"], burst: 2, perSecond: 1 }], now: () => 0 });
 * const record = (category: string[]): LogRecord => ({
 *   category, level: "info", message: ["x"], rawMessage: "x", timestamp: 0, properties: {},
 * });
 * const passed = [1, 2, 3, 4].map(() => flood.filter(record(["app", "connection"])));
 * assert.deepEqual(passed, [true, true, false, false]);
 * assert.equal(flood.filter(record(["app", "main"])), true); // not a limited category
 * assert.equal(flood.suppressedNow, 2);
 * flood[Symbol.dispose](); // logs "2 similar lines suppressed in the last second" (to no sink here)
 * ```
 */
export class FloodFilter implements Disposable {
  /**
   * The filter function to give LogTape (bound to this object).
   *
   * @ignore LogTape's `Filter` names a type its package does not export, which `deno doc` cannot show.
   */
  readonly filter: Filter;
  readonly #limits: readonly FloodLimit[];
  readonly #levels: ReadonlySet<string>;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #quietTicks = 0;
  #emitting = false;

  /**
   * A filter with full buckets.
   *
   * @param options categories, burst, rate
   */
  constructor(options: FloodFilterOptions) {
    this.#limits = options.limits;
    this.#levels = new Set(options.levels ?? ["info", "warning", "error"]);
    this.#now = options.now ?? Date.now;
    this.filter = (record) => this.#filter(record);
  }

  /** Lines suppressed and not yet reported. */
  get suppressedNow(): number {
    let n = 0;
    for (const bucket of this.#buckets.values()) n += bucket.suppressed;
    return n;
  }

  #filter(record: LogRecord): boolean {
    if (this.#emitting || !this.#levels.has(record.level)) return true;
    const key = `${record.level} ${record.category.join(".")}`;
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      const limit = this.#limits.find((l) => l.category.every((part, i) => record.category[i] === part));
      if (limit === undefined) return true;
      bucket = {
        category: record.category,
        level: record.level,
        limiter: new WarningLimiter({ burst: limit.burst, perSecond: limit.perSecond, now: this.#now }),
        suppressed: 0,
      };
      this.#buckets.set(key, bucket);
    }
    if (bucket.limiter.take() >= 0) return true;
    bucket.suppressed++;
    this.#startTimer();
    return false;
  }

  #startTimer(): void {
    this.#quietTicks = 0;
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => this.#tick(), 1000);
    Deno.unrefTimer(timer); // never keeps the process alive by itself
    this.#timer = timer;
  }

  #tick(): void {
    if (this.#report() === 0 && ++this.#quietTicks >= 2) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Logs one line per bucket with a count; returns how many lines were counted. */
  #report(): number {
    let total = 0;
    for (const bucket of this.#buckets.values()) {
      if (bucket.suppressed === 0) continue;
      total += bucket.suppressed;
      const count = bucket.suppressed;
      bucket.suppressed = 0;
      this.#emitting = true;
      try {
        getLogger([...bucket.category]).emit({
          level: bucket.level,
          message: ["", count, " similar lines suppressed in the last second"],
          rawMessage: "{count} similar lines suppressed in the last second",
          timestamp: Date.now(),
          properties: { count },
        });
      } finally {
        this.#emitting = false;
      }
    }
    return total;
  }

  /** Reports what is still counted and stops the timer. */
  [Symbol.dispose](): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#report();
  }
}
