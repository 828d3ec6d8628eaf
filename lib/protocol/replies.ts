/**
 * Packets the router itself sends: register confirmation, user list, errors.
 *
 * @module
 */

import { encodeMessage } from "../osc/codec.ts";
import type { ErrorCode } from "./error_code.ts";

/**
 * `/oscrouter/register/<userName>/<id>` with no arguments: what `OSCRouterClient` waits for.
 *
 * @param userName the registered user's name
 * @param idText the register id, as text
 * @returns the packet
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket } from "../osc/codec.ts";
 * import { registerReply } from "./replies.ts";
 * assert.deepEqual(decodePacket(registerReply("ana", "42")), { address: "/oscrouter/register/ana/42", args: [] });
 * ```
 */
export function registerReply(userName: string, idText: string): Uint8Array {
  return encodeMessage({ address: registerReplyAddress(userName, idText), args: [] });
}

/**
 * The address of the register reply: `/oscrouter/register/<userName>/<id>` (the router sends it,
 * a client waits for it).
 *
 * @param userName the registered user's name
 * @param idText the register id, as text (an integer in decimal, a string verbatim)
 * @returns the address
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerReplyAddress } from "./replies.ts";
 * assert.equal(registerReplyAddress("ana", "42"), "/oscrouter/register/ana/42");
 * ```
 */
export function registerReplyAddress(userName: string, idText: string): string {
  return `/oscrouter/register/${userName}/${idText}`;
}

/**
 * `/oscrouter/userlist ,s... names`, in the order the users joined.
 *
 * @param names user names
 * @returns the packet
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket } from "../osc/codec.ts";
 * import { userListPacket } from "./replies.ts";
 * assert.deepEqual(decodePacket(userListPacket(["a"])), { address: "/oscrouter/userlist", args: [{ type: "s", value: "a" }] });
 * ```
 */
export function userListPacket(names: Iterable<string>): Uint8Array {
  return encodeMessage({
    address: "/oscrouter/userlist",
    args: Array.from(names, (value) => ({ type: "s" as const, value })),
  });
}

/**
 * `/oscrouter/error ,sss code message context`.
 *
 * @param code the protocol's error code
 * @param message what went wrong and what to do
 * @param context the offending packet's address, or ""
 * @returns the packet
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket } from "../osc/codec.ts";
 * import { errorPacket } from "./replies.ts";
 * const p = decodePacket(errorPacket("server_full", "Try later", "")) as { args: { value: unknown }[] };
 * assert.equal(p.args[0]!.value, "server_full");
 * ```
 */
export function errorPacket(code: ErrorCode, message: string, context: string): Uint8Array {
  return encodeMessage({
    address: "/oscrouter/error",
    args: [{ type: "s", value: code }, { type: "s", value: message }, { type: "s", value: context }],
  });
}
