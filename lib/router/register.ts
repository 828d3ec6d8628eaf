/**
 * Parsing and checking `/oscrouter/register` (PROTOCOL.md section 2).
 *
 * @module
 */

import { OscDecodeError } from "../osc/errors.ts";
import {
  skipArgument,
  skipString,
  TAG_ARRAY_CLOSE,
  TAG_ARRAY_OPEN,
  TAG_STRING,
  TAG_UNKNOWN,
  tagKind,
} from "../osc/type_tags.ts";
import type { HeadArg } from "../osc/types.ts";
import { argText } from "./arg_text.ts";
import { ProtocolError } from "../protocol/error_code.ts";
import { checkName, REGISTER_ADDRESS } from "../protocol/names.ts";

/** Longest password, in UTF-8 bytes. */
export const MAX_PASSWORD_BYTES = 256;

/** What a register message asks for. */
export interface RegisterRequest {
  /** The user name, checked. */
  userName: string;
  /** The password's bytes exactly as sent ("any content": they need not be UTF-8). */
  userPassword: Uint8Array;
  /** The group name, checked. */
  groupName: string;
  /** The group password's bytes exactly as sent. */
  groupPassword: Uint8Array;
  /** The id to echo in the reply, as text ("0" when absent). */
  idText: string;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The raw bytes of a valid message's first `count` string arguments (`s` or `S`), by position;
 * other types give undefined. Only those arguments are read (call `scanPacket` first). Passwords are compared as these bytes, and names are checked
 * for valid UTF-8 on them, since a decoded string cannot tell.
 *
 * @param packet a valid OSC message
 * @param count how many arguments to look at
 * @returns one entry per argument looked at
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage } from "../osc/codec.ts";
 * import { rawStringArgs } from "./register.ts";
 * const raw = rawStringArgs(encodeMessage({ address: "/r", args: [{ type: "i", value: 1 }, { type: "s", value: "pw" }] }), 2);
 * assert.deepEqual(raw, [undefined, new TextEncoder().encode("pw")]);
 * ```
 */
export function rawStringArgs(packet: Uint8Array, count: number): (Uint8Array | undefined)[] {
  const end = packet.length;
  const tags = skipString(packet, 0, end);
  if (tags >= end || packet[tags] !== 0x2c) throw new OscDecodeError("missing type tag string", tags);
  let pos = skipString(packet, tags, end);
  const out: (Uint8Array | undefined)[] = [];
  for (let i = tags + 1; packet[i] !== 0 && out.length < count; i++) {
    const tag = packet[i]!;
    const kind = tagKind(tag);
    // Arrays: the argument types are wrong for a register anyway.
    if (kind === TAG_ARRAY_OPEN || kind === TAG_ARRAY_CLOSE || kind === TAG_UNKNOWN) break;
    const next = skipArgument(packet, tag, pos, end);
    out.push(kind === TAG_STRING ? packet.subarray(pos, packet.indexOf(0, pos)) : undefined);
    pos = next;
  }
  return out;
}

const USAGE = "send /oscrouter/register userName userPassword groupName groupPassword [id]";

/**
 * Reads a register message's arguments. Strings may be `s` or `S`; numbers (Pd sends
 * `f`) are taken as their decimal text; the optional id may be `i h f d s S`.
 *
 * @param message the register message, decoded (`decodePacket`) or its first five arguments (`readMessageHead`)
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
 * assert.deepEqual(r.groupPassword, new TextEncoder().encode("1234"));
 * assert.equal(r.idText, "0");
 * ```
 */
export function parseRegister(
  message: { readonly address: string; readonly args: readonly HeadArg[] },
  raw: (Uint8Array | undefined)[] = [],
): RegisterRequest {
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
  // Names must be UTF-8; passwords are bytes ("any content"), so a string argument is taken raw.
  const name = (kind: "user" | "group", i: number): string => {
    const bytes = raw[i];
    if (bytes === undefined) return texts[i]!;
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw new ProtocolError(
        "invalid_name",
        `The ${kind} name is not valid UTF-8; choose a name in UTF-8 text`,
        REGISTER_ADDRESS,
      );
    }
  };
  const password = (kind: "user" | "group", i: number): Uint8Array => {
    const bytes = raw[i] ?? utf8.encode(texts[i]!);
    if (bytes.length > MAX_PASSWORD_BYTES) {
      throw new ProtocolError(
        "bad_register",
        `The ${kind} password is longer than ${MAX_PASSWORD_BYTES} bytes; choose a shorter one`,
        REGISTER_ADDRESS,
      );
    }
    return bytes;
  };
  return {
    userName: checkName("user", name("user", 0)),
    userPassword: password("user", 1),
    groupName: checkName("group", name("group", 2)),
    groupPassword: password("group", 3),
    idText,
  };
}
