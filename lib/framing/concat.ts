/**
 * Joins byte pieces into one buffer.
 *
 * @module
 */

/**
 * Joins pieces into one new buffer (one allocation, one copy per piece).
 *
 * @param pieces the pieces, in order
 * @param totalBytes the sum of their lengths
 * @returns the joined bytes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./concat.ts";
 * assert.ok(concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])], 3).join() === "1,2,3");
 * ```
 */
export function concatBytes(pieces: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const out = new Uint8Array(totalBytes);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
