/**
 * Passwords kept only as keyed hashes and compared in constant time.
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** A per-process key: the stored digests are useless outside this process. */
const KEY = randomBytes(32);

/**
 * A password as the router keeps it: an HMAC-SHA-256 digest, never the text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Secret } from "./secret.ts";
 * const s = new Secret("hunter2");
 * assert.ok(s.matches("hunter2"));
 * assert.ok(!s.matches("hunter3"));
 * ```
 */
export class Secret {
  #digest: Uint8Array;

  /**
   * Keeps only the digest of `password`.
   *
   * @param password the password's text, or its bytes
   */
  constructor(password: string | Uint8Array) {
    this.#digest = Secret.#hash(password);
  }

  /**
   * Compares in constant time: both sides are digests of equal length, so the time
   * says nothing about the password's length or content.
   *
   * @param password the candidate
   * @returns true if it is the same password
   */
  matches(password: string | Uint8Array): boolean {
    return timingSafeEqual(this.#digest, Secret.#hash(password));
  }

  static #hash(password: string | Uint8Array): Uint8Array {
    const hmac = createHmac("sha256", KEY);
    return (typeof password === "string" ? hmac.update(password, "utf8") : hmac.update(password)).digest();
  }

  /** Keeps the digest out of logs and inspection. */
  toJSON(): string {
    return "[secret]";
  }
}
