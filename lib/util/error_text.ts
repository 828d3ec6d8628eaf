/**
 * What a caught value says, for a log line or a message: `catch` hands over `unknown`.
 *
 * @module
 */

/**
 * The message of a caught value: an `Error`'s `message`, anything else as a string.
 *
 * @param error what was caught
 * @returns its message
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMessage } from "./error_text.ts";
 * assert.equal(errorMessage(new RangeError("too big")), "too big");
 * assert.equal(errorMessage("plain"), "plain");
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The stack of a caught `Error` (its message when it has none), anything else as a string: for
 * the log line of a fault that should not happen, where the place it came from matters.
 *
 * @param error what was caught
 * @returns its stack, or its message
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorStack } from "./error_text.ts";
 * assert.match(errorStack(new Error("lost")), /^Error: lost\n\s+at /);
 * assert.equal(errorStack(42), "42");
 * ```
 */
export function errorStack(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}
