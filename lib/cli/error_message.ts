/**
 * The text of a thrown value, for messages and log lines.
 *
 * @module
 */

/**
 * The message of a thrown value: an `Error`'s message, anything else as text (a thrown string, a
 * number). `catch` hands over `unknown`, so every message built from a caught value needs this.
 *
 * @param error what was thrown
 * @returns its message
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMessage } from "./error_message.ts";
 * assert.equal(errorMessage(new RangeError("too big")), "too big");
 * assert.equal(errorMessage("plain text"), "plain text");
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
