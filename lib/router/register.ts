/**
 * Parsing and checking `/oscrouter/register` (PROTOCOL.md section 2).
 *
 * @module
 */

import type { OscMessage } from "../osc/types.ts";
import { argText } from "./arg_text.ts";
import { ProtocolError } from "./error_code.ts";

/** Longest user or group name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 256;
/** Longest password, in UTF-8 bytes. */
export const MAX_PASSWORD_BYTES = 256;

/** The address of a register message. */
export const REGISTER_ADDRESS = "/oscrouter/register";

/** What a register message asks for. */
export interface RegisterRequest {
  userName: string;
  userPassword: string;
  groupName: string;
  groupPassword: string;
  /** The id to echo in the reply, as text ("0" when absent). */
  idText: string;
}

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
 * import { checkName } from "./register.ts";
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

const USAGE = "send /oscrouter/register userName userPassword groupName groupPassword [id]";

/**
 * Reads a register message's arguments. Strings may be `s` or `S`; numbers (Pd sends
 * `f`) are taken as their decimal text; the optional id may be `i h f d s S`.
 *
 * @param message the decoded register message
 * @returns what it asks for
 * @throws {ProtocolError} `bad_register` or `invalid_name`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRegister } from "./register.ts";
 * const r = parseRegister({ address: "/oscrouter/register", args: [
 *   { type: "s", value: "ana" }, { type: "s", value: "pw" }, { type: "s", value: "band" },
 *   { type: "f", value: 1234 },
 * ] });
 * assert.equal(r.groupPassword, "1234");
 * assert.equal(r.idText, "0");
 * ```
 */
export function parseRegister(message: OscMessage): RegisterRequest {
  const { args } = message;
  if (args.length < 4) {
    throw new ProtocolError(
      "bad_register",
      `Register has ${args.length} arguments where 4 or 5 are needed; ${USAGE}`,
      REGISTER_ADDRESS,
    );
  }
  const fields = ["user name", "user password", "group name", "group password"] as const;
  const texts = fields.map((field, i) => {
    const text = argText(args[i]!);
    if (text === undefined) {
      throw new ProtocolError(
        "bad_register",
        `Register argument ${i + 1} (${field}) has type '${args[i]!.type}'; send a string; ${USAGE}`,
        REGISTER_ADDRESS,
      );
    }
    return text;
  }) as [string, string, string, string];
  let idText = "0";
  if (args.length > 4) {
    const id = argText(args[4]!);
    if (id === undefined) {
      throw new ProtocolError(
        "bad_register",
        `Register id has type '${args[4]!.type}'; send an int, a float or a string`,
        REGISTER_ADDRESS,
      );
    }
    idText = id;
  }
  const [userName, userPassword, groupName, groupPassword] = texts;
  for (const [field, password] of [["user", userPassword], ["group", groupPassword]] as const) {
    if (utf8.encode(password).length > MAX_PASSWORD_BYTES) {
      throw new ProtocolError(
        "bad_register",
        `The ${field} password is longer than ${MAX_PASSWORD_BYTES} bytes; choose a shorter one`,
        REGISTER_ADDRESS,
      );
    }
  }
  return {
    userName: checkName("user", userName),
    userPassword,
    groupName: checkName("group", groupName),
    groupPassword,
    idText,
  };
}
