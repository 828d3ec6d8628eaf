/**
 * What a user or group name may be, and the register's address: the rules both the router and
 * the groups file check (PROTOCOL.md section 2).
 *
 * @module
 */

import { ProtocolError } from "./error_code.ts";

/** Longest user or group name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 256;

/** The address of a register message. */
export const REGISTER_ADDRESS = "/oscrouter/register";

// C0 controls, DEL and C1 controls.
// deno-lint-ignore no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const utf8 = new TextEncoder();

/**
 * Checks a user or group name: 1 to 256 bytes of UTF-8 without control characters.
 * Spaces and `/` are allowed: the original accepted them and clients use them.
 *
 * @param kind "user" or "group", for the message
 * @param name the name
 * @returns the name
 * @throws {ProtocolError} `invalid_name`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkName } from "./names.ts";
 * assert.equal(checkName("user", "Ana María/2"), "Ana María/2");
 * assert.throws(() => checkName("user", ""));
 * ```
 */
export function checkName(kind: "user" | "group", name: string): string {
  const bytes = utf8.encode(name).length;
  if (bytes === 0) {
    throw new ProtocolError(
      "invalid_name",
      `The ${kind} name is empty; choose a name of 1 to 256 bytes`,
      REGISTER_ADDRESS,
    );
  }
  if (bytes > MAX_NAME_BYTES) {
    throw new ProtocolError(
      "invalid_name",
      `The ${kind} name is ${bytes} bytes long; choose one of at most ${MAX_NAME_BYTES} bytes`,
      REGISTER_ADDRESS,
    );
  }
  if (CONTROL_CHARACTER.test(name)) {
    throw new ProtocolError(
      "invalid_name",
      `The ${kind} name contains a control character (newline, tab, ...); choose a name without one`,
      REGISTER_ADDRESS,
    );
  }
  return name;
}
