/**
 * One budget for every byte that clients can make the router hold: partial frames, outboxes,
 * WebSocket and event-stream buffers. Each holder charges what it holds; when the total would
 * pass the limit, the holder that holds the most gives way (it is cut off), so one client cannot
 * take the memory that every other client's concert needs.
 *
 * @module
 */

/** Something that holds client bytes and can be made to let go of them. */
export interface BudgetHolder {
  /** Who it is, for logs ("203.0.113.5:51234"). */
  readonly peer: string;
  /**
   * True for a holder of spare memory only (free buffers kept for reuse): it is shed first,
   * before any client, whatever its size, since shedding it cuts nobody.
   */
  readonly spare?: boolean;
  /**
   * Drops everything it holds and closes, at once (no flush): the budget already took its
   * bytes back. Called once for a holder that closes; a holder that lives on (a pool of free
   * buffers) may be shed again once it has charged again. It runs inside another holder's
   * `charge`: it must not charge the budget itself (defer work that might, such as telling others).
   *
   * @param reason why, for logs and for the client's error
   */
  shed(reason: string): void;
  /**
   * For a holder of spare memory: drops at least `bytes` of it (or all it holds) and gives them
   * back with a negative `charge`, so a charge that needs a little room turns a little of the
   * spare memory into garbage, not all of it. Without it, the holder is shed whole.
   *
   * @param bytes how much room is needed
   */
  shrink?(bytes: number): void;
}

/**
 * A byte budget shared by all holders.
 *
 * Policy when a charge would pass the limit: a holder of spare memory (`spare`) is shed first;
 * then the holder that holds the most is shed (its bytes are returned at once). If that holder is the one charging, the charge is refused instead and
 * the caller drops what it wanted to keep (a new partial frame, a packet for a slow reader);
 * otherwise the charge goes through. Shedding repeats until the charge fits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBudget } from "./memory_budget.ts";
 * const shed: string[] = [];
 * const holder = (peer: string) => ({ peer, shed: () => shed.push(peer) });
 * const budget = new MemoryBudget(100);
 * const big = holder("big"), small = holder("small");
 * assert.ok(budget.charge(big, 80));
 * assert.ok(budget.charge(small, 30)); // over 100: "big" holds the most and is shed
 * assert.deepEqual(shed, ["big"]);
 * assert.equal(budget.usedBytes, 30);
 * assert.ok(!budget.charge(small, 90)); // "small" would be the biggest: refused, not shed
 * ```
 */
export class MemoryBudget {
  /** The budget's size. */
  readonly limitBytes: number;
  #held = new Map<BudgetHolder, number>();
  #used = 0;
  /** Holders shed since the start (for the status page and metrics). */
  shedCount = 0;

  /**
   * A budget of `limitBytes`.
   *
   * @param limitBytes the most that all holders together may hold
   */
  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  /** Bytes held now, over all holders. */
  get usedBytes(): number {
    return this.#used;
  }

  /** Holders that hold something now. */
  get holderCount(): number {
    return this.#held.size;
  }

  /**
   * What clients hold: everything but holders of spare memory (free buffers kept for reuse).
   *
   * @returns bytes held by clients
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryBudget } from "./memory_budget.ts";
   * const budget = new MemoryBudget(100);
   * budget.charge({ peer: "pool", spare: true, shed() {} }, 30);
   * budget.charge({ peer: "ana", shed() {} }, 20);
   * assert.equal(budget.clientBytes(), 20);
   * ```
   */
  clientBytes(): number {
    let n = 0;
    for (const [holder, bytes] of this.#held) if (holder.spare !== true) n += bytes;
    return n;
  }

  /**
   * What one holder holds.
   *
   * @param holder a holder
   * @returns its bytes (0 if unknown)
   */
  heldBy(holder: BudgetHolder): number {
    return this.#held.get(holder) ?? 0;
  }

  /**
   * Changes what `holder` holds by `deltaBytes` (negative to give back).
   *
   * @param holder who holds the bytes
   * @param deltaBytes bytes taken (> 0) or returned (< 0)
   * @returns false when a positive charge was refused (the caller must not keep the bytes)
   */
  charge(holder: BudgetHolder, deltaBytes: number): boolean {
    if (deltaBytes === 0) return true;
    const current = this.#held.get(holder) ?? 0;
    if (deltaBytes < 0) {
      const next = Math.max(0, current + deltaBytes);
      this.#used -= current - next;
      if (next === 0) this.#held.delete(holder);
      else this.#held.set(holder, next);
      return true;
    }
    while (this.#used + deltaBytes > this.limitBytes) {
      const victim = this.#largest();
      if (victim !== undefined && victim.spare === true && victim.shrink !== undefined) {
        const before = this.#used;
        victim.shrink(this.#used + deltaBytes - this.limitBytes);
        if (this.#used < before) continue;
      }
      if (
        victim === undefined || victim === holder ||
        (victim.spare !== true && this.heldBy(victim) <= current + deltaBytes)
      ) {
        return false;
      }
      this.release(victim);
      this.shedCount++;
      victim.shed(`the router's memory budget of ${this.limitBytes} bytes is full and this client held the most`);
    }
    this.#held.set(holder, current + deltaBytes);
    this.#used += deltaBytes;
    return true;
  }

  /**
   * Takes `deltaBytes` more for `holder` only if they fit as things are: nobody is shed. For
   * memory that is merely convenient to keep (free buffers kept for reuse), never worth a client.
   *
   * @param holder who would hold the bytes
   * @param deltaBytes bytes wanted (> 0)
   * @returns true if charged
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryBudget } from "./memory_budget.ts";
   * const budget = new MemoryBudget(100);
   * const client = { peer: "client", shed() {} }, pool = { peer: "pool", shed() {} };
   * budget.charge(client, 90);
   * assert.ok(!budget.tryCharge(pool, 20));
   * assert.ok(budget.tryCharge(pool, 10));
   * assert.equal(budget.usedBytes, 100);
   * ```
   */
  tryCharge(holder: BudgetHolder, deltaBytes: number): boolean {
    if (this.#used + deltaBytes > this.limitBytes) return false;
    return this.charge(holder, deltaBytes);
  }

  /**
   * Returns everything `holder` holds (it is gone).
   *
   * @param holder a holder
   */
  release(holder: BudgetHolder): void {
    const current = this.#held.get(holder);
    if (current === undefined) return;
    this.#held.delete(holder);
    this.#used -= current;
  }

  /** The next to shed: a holder of spare memory, else the one holding the most. */
  #largest(): BudgetHolder | undefined {
    let best: BudgetHolder | undefined;
    let bestBytes = -1;
    for (const [holder, bytes] of this.#held) {
      if (holder.spare === true) return holder;
      if (bytes > bestBytes) {
        best = holder;
        bestBytes = bytes;
      }
    }
    return best;
  }
}
