/**
 * Typed errors of the OSC codec.
 *
 * @module
 */

/**
 * A packet is not valid OSC. Carries the byte offset where decoding failed,
 * so the router can report it and the tests can check it.
 *
 * @example Catching a decode failure
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket } from "./codec.ts";
 * import { OscDecodeError } from "./errors.ts";
 * try {
 *   decodePacket(new Uint8Array([1, 2, 3]));
 * } catch (e) {
 *   if (!(e instanceof OscDecodeError)) throw e;
 *   assert.ok(e.offset === 0);
 * }
 * ```
 */
export class OscDecodeError extends SyntaxError {
  /** Byte offset in the packet where the problem was found. */
  readonly offset: number;
  /** What was wrong, without the offset (e.g. "string without NUL terminator"). */
  readonly reason: string;

  /**
   * An error at `offset`, for `reason`.
   *
   * @param reason what was wrong, in sentence case, without the offset
   * @param offset byte offset in the packet
   */
  constructor(reason: string, offset: number) {
    super(`${reason} at byte ${offset}`);
    this.name = "OscDecodeError";
    this.reason = reason;
    this.offset = offset;
  }
}

/**
 * A value cannot be encoded as OSC (e.g. an int argument out of the 32-bit range).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage } from "./codec.ts";
 * import { OscEncodeError } from "./errors.ts";
 * let failed = false;
 * try {
 *   encodeMessage({ address: "/x", args: [{ type: "i", value: 2 ** 40 }] });
 * } catch (e) {
 *   failed = e instanceof OscEncodeError;
 * }
 * assert.ok(failed);
 * ```
 */
export class OscEncodeError extends RangeError {
  /**
   * An encoding error.
   *
   * @param message what cannot be encoded and why
   */
  constructor(message: string) {
    super(message);
    this.name = "OscEncodeError";
  }
}
