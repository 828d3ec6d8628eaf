/**
 * Recent events for the operator's status page: joins, leaves, refusals and slow consumers,
 * with their times. Bounded: the oldest event goes when the log is full.
 *
 * @module
 */

/** What happened. */
export type RouterEventKind = "join" | "leave" | "refused" | "slow_consumer";

/** One event, as the status page and /status.json show it. */
export interface RouterEvent {
  /** When it happened (ms since the epoch). */
  at: number;
  /** What happened. */
  kind: RouterEventKind;
  /** "user@group" when known (a refused register names the user and group it asked for). */
  who?: string | undefined;
  /** The client's address and port ("203.0.113.5:51234"). */
  address: string;
  /** Why, for refusals and cut-offs: an error code or a short text. */
  reason?: string;
}

/** An event to record; `at` defaults to now. */
export type RouterEventInput = Omit<RouterEvent, "at"> & { at?: number };

/** Events kept by default. */
const DEFAULT_EVENT_LOG_CAPACITY = 200;

/**
 * A ring of the last `capacity` events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventLog } from "./event_log.ts";
 * const log = new EventLog(2);
 * log.record({ kind: "join", who: "ana@band", address: "10.0.0.2:50000", at: 1 });
 * log.record({ kind: "leave", who: "ana@band", address: "10.0.0.2:50000", at: 2 });
 * log.record({ kind: "refused", who: "bob@band", address: "10.0.0.3:50001", reason: "wrong_group_password", at: 3 });
 * assert.deepEqual(log.recent().map((e) => e.kind), ["refused", "leave"]);
 * assert.equal(log.total, 3);
 * ```
 */
export class EventLog {
  /** How many events it keeps. */
  readonly capacity: number;
  #ring: RouterEvent[] = [];
  #next = 0;
  #total = 0;
  #now: () => number;

  /**
   * An empty log.
   *
   * @param capacity events kept (at least 1)
   * @param now the clock (ms since the epoch)
   */
  constructor(capacity: number = DEFAULT_EVENT_LOG_CAPACITY, now: () => number = Date.now) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.#now = now;
  }

  /** Events recorded since the start, including those no longer kept. */
  get total(): number {
    return this.#total;
  }

  /**
   * Records an event; the oldest goes when the log is full.
   *
   * @param event what happened (`at` defaults to now)
   */
  record(event: RouterEventInput): void {
    const entry: RouterEvent = { ...event, at: event.at ?? this.#now() };
    if (this.#ring.length < this.capacity) this.#ring.push(entry);
    else this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.capacity;
    this.#total++;
  }

  /**
   * The events kept, newest first.
   *
   * @returns a new array
   */
  recent(): RouterEvent[] {
    const n = this.#ring.length;
    const out: RouterEvent[] = [];
    for (let i = 1; i <= n; i++) out.push(this.#ring[(this.#next - i + n) % n]!);
    return out;
  }
}
