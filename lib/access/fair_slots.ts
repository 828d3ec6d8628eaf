/**
 * A few slots for slow work (password hashes), shared fairly between addresses: waiting work
 * is queued per address and the addresses are served round-robin, so a flood from a few
 * addresses delays someone else's work by at most one job per waiting address instead of
 * filling one shared queue. The same discipline as {@linkcode PasswordVerifier}'s checks, for
 * work that is not a check against a declared hash (the cluster's verifiers).
 *
 * @module
 */

/** Limits of {@linkcode FairSlots}. */
export interface FairSlotsOptions {
  /** Jobs running at once. */
  concurrency: number;
  /** Addresses with jobs waiting, at most; a job from one more address is refused (`"busy"`). */
  maxWaitingAddresses: number;
  /** Jobs one address may have running or waiting; more are refused (`"address_busy"`). */
  maxPerAddress: number;
}

/** Why a job could not start: every slot and the waiting room are full, or this address has its share. */
export type SlotRefusal = "busy" | "address_busy";

/**
 * Runs slow jobs a few at a time, fair between addresses.
 *
 * @example Two addresses share one slot in turn
 * ```ts
 * import assert from "node:assert/strict";
 * import { FairSlots } from "./fair_slots.ts";
 * const slots = new FairSlots({ concurrency: 1, maxWaitingAddresses: 8, maxPerAddress: 3 });
 * const order: string[] = [];
 * const job = (name: string) => () => Promise.resolve(void order.push(name));
 * const jobs = [slots.run("a", job("a1")), slots.run("a", job("a2")), slots.run("a", job("a3"))];
 * assert.equal(slots.run("a", job("a4")), "address_busy");
 * jobs.push(slots.run("b", job("b1")));
 * await Promise.all(jobs);
 * assert.deepEqual(order, ["a1", "a2", "b1", "a3"]);
 * ```
 */
export class FairSlots {
  /** The limits in force. */
  readonly options: FairSlotsOptions;
  #running = 0;
  #perAddress = new Map<string, number>();
  /** Waiting jobs: one FIFO per address, addresses in the order they are served. */
  #waiting = new Map<string, (() => void)[]>();

  /**
   * Slots with their limits.
   *
   * @param options how many run at once, and how many may wait
   */
  constructor(options: FairSlotsOptions) {
    this.options = options;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#running;
  }

  /** Addresses with jobs waiting. */
  get waitingAddresses(): number {
    return this.#waiting.size;
  }

  /**
   * Runs `work` when a slot is free and it is this address's turn.
   *
   * @param address the per-address key of who asks
   * @param work the job
   * @returns the job's result, or why it could not start
   */
  run<T>(address: string, work: () => Promise<T>): Promise<T> | SlotRefusal {
    const o = this.options;
    const mine = this.#perAddress.get(address) ?? 0;
    if (mine >= o.maxPerAddress) return "address_busy";
    const mustWait = this.#running >= o.concurrency;
    if (mustWait && !this.#waiting.has(address) && this.#waiting.size >= o.maxWaitingAddresses) return "busy";
    this.#perAddress.set(address, mine + 1);
    return (async () => {
      try {
        if (mustWait) {
          await new Promise<void>((resolve) => {
            const queue = this.#waiting.get(address);
            if (queue === undefined) this.#waiting.set(address, [resolve]);
            else queue.push(resolve);
          });
        } else {
          this.#running++;
        }
        return await work();
      } finally {
        this.#running--;
        this.#next();
        const left = (this.#perAddress.get(address) ?? 1) - 1;
        if (left > 0) this.#perAddress.set(address, left);
        else this.#perAddress.delete(address);
      }
    })();
  }

  /** Hands the free slot to the first waiting address's oldest job; that address moves to the back. */
  #next(): void {
    const first = this.#waiting.entries().next();
    if (first.done) return;
    const [address, queue] = first.value;
    this.#waiting.delete(address);
    const resolve = queue.shift()!;
    if (queue.length > 0) this.#waiting.set(address, queue);
    this.#running++; // taken on behalf of the waiter, so no newcomer can slip in first
    resolve();
  }
}
