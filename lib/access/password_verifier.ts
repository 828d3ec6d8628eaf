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
import { FairSlots, type SlotRefusal } from "./fair_slots.ts";
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
export type VerifyRefusal = SlotRefusal;

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
  /** Running and waiting checks: one FIFO per address, addresses served round-robin. */
  #slots: FairSlots;
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
    this.#slots = new FairSlots(this.options);
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
    const copy = password.slice();
    const check = this.#slots.run(address, async () => {
      this.computed++;
      const ok = await this.options.verify(hash, copy);
      if (ok) this.#remember(key);
      return ok;
    });
    if (typeof check === "string") return check;
    const tracked = check.finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, tracked);
    return tracked;
  }

  /** Addresses with checks waiting. */
  get waitingAddresses(): number {
    return this.#slots.waitingAddresses;
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
