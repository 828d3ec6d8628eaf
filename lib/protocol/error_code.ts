/**
 * The protocol's error codes (PROTOCOL.md section 5).
 *
 * @module
 */

/** Every error code the router sends in `/oscrouter/error`. */
export const ERROR_CODES = [
  "bad_register",
  "wrong_user_password",
  "wrong_group_password",
  "invalid_name",
  "not_registered",
  "already_registered",
  "unknown_user",
  "reserved_address",
  "malformed_packet",
  "packet_too_large",
  "bad_frame",
  "server_full",
  // Added for hostile input (issues 10 and 11): clients that know only the first twelve
  // treat them as any other error (OSCRouterClient ignores unknown messages, Pd prints them).
  "too_many_connections",
  "too_many_attempts",
  "unknown_group",
  "server_busy",
  "idle_timeout",
] as const;

/** One of the protocol's error codes. */
export type ErrorCode = typeof ERROR_CODES[number];

/**
 * A failure to report to a client: the code, a sentence that says what to do, and the
 * offending packet's address (or "").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "./error_code.ts";
 * const e = new ProtocolError("invalid_name", "User names cannot be empty; choose a name", "/oscrouter/register");
 * assert.equal(e.code, "invalid_name");
 * ```
 */
export class ProtocolError extends Error {
  /**
   * A protocol error to report.
   *
   * @param code the protocol's error code
   * @param message one sentence that says what went wrong and what to do; never a password
   * @param context the offending packet's address, or ""
   */
  constructor(readonly code: ErrorCode, message: string, readonly context: string) {
    super(message);
    this.name = "ProtocolError";
  }
}
