/**
 * Checks passwords against the groups file's slow hashes without stalling the router:
 * each check runs scrypt off the main thread, at most a few at once, and a password that
 * matched is remembered (as a keyed digest) so each distinct right password costs one hash.
 * Waiting checks are queued per address and served round-robin, so a flood of wrong
 * passwords from many addresses delays a musician's check by at most one check per
 * waiting address, instead of filling one shared queue and refusing her.
 *
 * @module
 */

import { createHmac, randomBytes } from "node:crypto";
import { type PasswordHash, verifyPassword } from "./password_hash.ts";

/** Settings of a {@linkcode PasswordVerifier}. */
export interface PasswordVerifierOptions {
  /** The check itself (tests inject a controllable one); scrypt off the main thread by default. */
  verify: (hash: PasswordHash, password: Uint8Array) => Promise<boolean>;
  /** Checks running at once (each scrypt of the default cost takes a core for ~0.15 s). */
  concurrency: number;
  /** Addresses with checks waiting, at most; a check from one more address is refused (`server_busy`). */
  maxWaitingAddresses: number;
  /** Checks one address may have running or waiting; more are refused (`too_many_attempts`). */
  maxPerAddress: number;
  /** Right passwords remembered at most. */
  maxRemembered: number;
}

/** Why a check could not start. */
export type VerifyRefusal = "busy" | "address_busy";

/** A per-process key: the remembered digests are useless outside this process. */
const KEY = randomBytes(32);

/**
 * Verifies passwords against declared hashes: asynchronous, bounded, remembered on success.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPassword, parsePasswordHash } from "./password_hash.ts";
 * import { PasswordVerifier } from "./password_verifier.ts";
 * const verifier = new PasswordVerifier();
 * const hash = parsePasswordHash(await hashPassword("pw", { ln: 10, r: 8, p: 1 }));
 * const pw = new TextEncoder().encode("pw");
 * assert.equal(verifier.known(hash, pw), undefined);
 * const check = verifier.start(hash, pw, "203.0.113.5");
 * assert.ok(check instanceof Promise);
 * assert.equal(await check, true);
 * assert.equal(verifier.known(hash, pw), true, "remembered");
 * ```
 */
export class PasswordVerifier {
  /** The limits in force, and the check. */
  readonly options: PasswordVerifierOptions;
  #remembered = new Set<string>();
  #inFlight = new Map<string, Promise<boolean>>();
  #perAddress = new Map<string, number>();
  #running = 0;
  /** Waiting checks: one FIFO per address, addresses in the order they are served (round-robin). */
  #waiting = new Map<string, (() => void)[]>();
  /** Hashes computed (for figures and tests). */
  computed = 0;

  /**
   * A verifier with its limits.
   *
   * @param options limits and the check; unset fields take defaults (2 at once, 256 addresses waiting, 4 per address)
   */
  constructor(options: Partial<PasswordVerifierOptions> = {}) {
    this.options = {
      verify: (hash, password) => verifyPassword(hash, password),
      concurrency: 2,
      maxWaitingAddresses: 256,
      maxPerAddress: 4,
      maxRemembered: 4096,
      ...options,
    };
  }

  /** Checks running or waiting. */
  get pending(): number {
    return this.#inFlight.size;
  }

  /**
   * What is known without hashing.
   *
   * @param hash the declared hash
   * @param password the candidate
   * @returns true if this password matched this hash before; undefined if it must be checked
   */
  known(hash: PasswordHash, password: Uint8Array): true | undefined {
    return this.#remembered.has(digest(hash, password)) ? true : undefined;
  }

  /**
   * Starts a check, or joins the same check already running.
   *
   * @param hash the declared hash
   * @param password the candidate (copied)
   * @param address the per-address key of who asks
   * @returns whether it matches, or why the check could not start
   */
  start(hash: PasswordHash, password: Uint8Array, address: string): Promise<boolean> | VerifyRefusal {
    const key = digest(hash, password);
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running;
    const o = this.options;
    const mine = this.#perAddress.get(address) ?? 0;
    if (mine >= o.maxPerAddress) return "address_busy";
    const mustWait = this.#running >= o.concurrency;
    if (mustWait && !this.#waiting.has(address) && this.#waiting.size >= o.maxWaitingAddresses) return "busy";
    this.#perAddress.set(address, mine + 1);
    const copy = password.slice();
    const check = (async () => {
      try {
        await this.#slot(address);
        this.computed++;
        const ok = await o.verify(hash, copy);
        if (ok) this.#remember(key);
        return ok;
      } finally {
        this.#running--;
        this.#next();
        this.#inFlight.delete(key);
        const left = (this.#perAddress.get(address) ?? 1) - 1;
        if (left > 0) this.#perAddress.set(address, left);
        else this.#perAddress.delete(address);
      }
    })();
    this.#inFlight.set(key, check);
    return check;
  }

  /** Addresses with checks waiting. */
  get waitingAddresses(): number {
    return this.#waiting.size;
  }

  async #slot(address: string): Promise<void> {
    if (this.#running >= this.options.concurrency) {
      await new Promise<void>((resolve) => {
        const queue = this.#waiting.get(address);
        if (queue === undefined) this.#waiting.set(address, [resolve]);
        else queue.push(resolve);
      });
    } else {
      this.#running++;
    }
  }

  /** Hands the free slot to the first waiting address's oldest check; that address moves to the back. */
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

  #remember(key: string): void {
    if (this.#remembered.size >= this.options.maxRemembered) {
      this.#remembered.delete(this.#remembered.values().next().value!);
    }
    this.#remembered.add(key);
  }
}

function digest(hash: PasswordHash, password: Uint8Array): string {
  return createHmac("sha256", KEY).update(hash.text).update("\0").update(password).digest("base64");
}
