/**
 * Slow, salted password hashes for the groups file: scrypt (RFC 7914) through `node:crypto`,
 * written as a PHC-like string `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (salt and hash in base64
 * without padding). Verifying runs scrypt off the main thread, so it never stalls routing.
 *
 * @module
 */

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/** The cost used by `hashPassword`: N = 2^15, r = 8, p = 1 (32 MiB, about 0.15 s on one core). */
const DEFAULT_SCRYPT_COST = { ln: 15, r: 8, p: 1 } as const;

/** The most memory one verification may use: a file cannot make the router allocate more. */
const MAX_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024;

/** A hash string that cannot be read. */
export class PasswordHashError extends SyntaxError {
  /**
   * A hash that cannot be read.
   *
   * @param message what is wrong with the hash, and what to do
   */
  constructor(message: string) {
    super(message);
    this.name = "PasswordHashError";
  }
}

/** A parsed `$scrypt$` hash. */
export interface PasswordHash {
  /** log2 of scrypt's N. */
  ln: number;
  /** scrypt's block size. */
  r: number;
  /** scrypt's parallelism. */
  p: number;
  /** The salt's bytes. */
  salt: Uint8Array;
  /** The derived key's bytes. */
  hash: Uint8Array;
  /** The string it was read from. */
  text: string;
}

const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{22,})$/;

/**
 * Reads a `$scrypt$ln=..,r=..,p=..$salt$hash` string.
 *
 * @param text the hash, as `tcposcrouter hash-password` prints it
 * @returns its parts
 * @throws {PasswordHashError} when it is not such a string, or its cost is out of range
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePasswordHash } from "./password_hash.ts";
 * const h = parsePasswordHash("$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0MTI");
 * assert.equal(h.ln, 15);
 * assert.equal(h.salt.length, 16);
 * ```
 */
export function parsePasswordHash(text: string): PasswordHash {
  const m = PHC.exec(text);
  if (m === null) {
    throw new PasswordHashError(
      "not a password hash: expected '$scrypt$ln=15,r=8,p=1$<salt>$<hash>'; make one with 'tcposcrouter hash-password'",
    );
  }
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16 || 128 * 2 ** ln * r > MAX_SCRYPT_MEMORY_BYTES) {
    throw new PasswordHashError(
      `scrypt cost ln=${ln},r=${r},p=${p} is out of range (ln 10 to 20, r 1 to 32, p 1 to 16, at most 256 MiB); make a new hash with 'tcposcrouter hash-password'`,
    );
  }
  const salt = Buffer.from(m[4]!, "base64");
  const hash = Buffer.from(m[5]!, "base64");
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) {
    throw new PasswordHashError(
      "the salt or the hash has the wrong length; make a new hash with 'tcposcrouter hash-password'",
    );
  }
  return { ln, r, p, salt: new Uint8Array(salt), hash: new Uint8Array(hash), text };
}

function derive(password: Uint8Array, salt: Uint8Array, ln: number, r: number, p: number, length: number) {
  return new Promise<Uint8Array>((resolve, reject) => {
    const N = 2 ** ln;
    scrypt(password, salt, length, { N, r, p, maxmem: 2 * 128 * N * r + 1024 * 1024 }, (error, key) => {
      if (error) reject(error);
      else resolve(new Uint8Array(key));
    });
  });
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");

/**
 * Hashes a password with a fresh 16-byte salt.
 *
 * @param password the password's text or bytes
 * @param cost scrypt's cost (defaults to {@linkcode DEFAULT_SCRYPT_COST})
 * @returns the `$scrypt$` string to put in the groups file
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPassword, verifyPassword } from "./password_hash.ts";
 * const text = await hashPassword("hunter2", { ln: 10, r: 8, p: 1 });
 * assert.match(text, /^\$scrypt\$ln=10,r=8,p=1\$/);
 * assert.ok(await verifyPassword(text, "hunter2"));
 * assert.ok(!await verifyPassword(text, "hunter3"));
 * ```
 */
export async function hashPassword(
  password: string | Uint8Array,
  cost: { ln: number; r: number; p: number } = DEFAULT_SCRYPT_COST,
): Promise<string> {
  const salt = new Uint8Array(randomBytes(16));
  const bytes = typeof password === "string" ? new TextEncoder().encode(password) : password;
  const hash = await derive(bytes, salt, cost.ln, cost.r, cost.p, 32);
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${b64(salt)}$${b64(hash)}`;
}

/**
 * Checks a password against a hash, in constant time, without blocking the event loop.
 *
 * @param hash a `$scrypt$` string or its parsed form
 * @param password the candidate's text or bytes
 * @returns whether it matches
 * @throws {PasswordHashError} when `hash` is a string that cannot be read
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPassword, verifyPassword } from "./password_hash.ts";
 * const text = await hashPassword(new Uint8Array([0xff, 0x00]), { ln: 10, r: 1, p: 1 });
 * assert.ok(await verifyPassword(text, new Uint8Array([0xff, 0x00])));
 * ```
 */
export async function verifyPassword(hash: string | PasswordHash, password: string | Uint8Array): Promise<boolean> {
  const h = typeof hash === "string" ? parsePasswordHash(hash) : hash;
  const bytes = typeof password === "string" ? new TextEncoder().encode(password) : password;
  const derived = await derive(bytes, h.salt, h.ln, h.r, h.p, h.hash.length);
  return timingSafeEqual(derived, h.hash);
}
