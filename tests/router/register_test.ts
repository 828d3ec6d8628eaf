/** Register arguments at their limits: names and passwords are counted in UTF-8 bytes, not characters. */
import assert from "node:assert/strict";
import { ProtocolError } from "../../lib/protocol/error_code.ts";
import { checkName, MAX_NAME_BYTES } from "../../lib/protocol/names.ts";
import { MAX_PASSWORD_BYTES, parseRegister } from "../../lib/router/register.ts";

const s = (value: string) => ({ type: "s" as const, value });
const registerOf = (user: string, userPw: string, group = "band", groupPw = "gpw") =>
  parseRegister({ address: "/oscrouter/register", args: [s(user), s(userPw), s(group), s(groupPw)] });

/** The code of the ProtocolError `f` throws. */
function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    assert.ok(error instanceof ProtocolError, `a ProtocolError, not ${error}`);
    return error.code;
  }
  throw new Error("expected a ProtocolError");
}

Deno.test("register: a name of exactly 256 bytes is taken, 257 bytes is invalid_name (ASCII and two-byte UTF-8)", () => {
  assert.equal(MAX_NAME_BYTES, 256);
  for (const atLimit of ["x".repeat(256), "é".repeat(128), "x" + "€".repeat(85)]) {
    assert.equal(new TextEncoder().encode(atLimit).length, 256);
    assert.equal(checkName("user", atLimit), atLimit);
    assert.equal(registerOf(atLimit, "pw").userName, atLimit);
    assert.equal(registerOf("ana", "pw", atLimit).groupName, atLimit);
    const over = atLimit + "y";
    assert.equal(codeOf(() => checkName("group", over)), "invalid_name");
    assert.equal(codeOf(() => registerOf(over, "pw")), "invalid_name");
    assert.equal(codeOf(() => registerOf("ana", "pw", over)), "invalid_name");
  }
  assert.equal(codeOf(() => checkName("user", "é".repeat(129))), "invalid_name", "129 characters, 258 bytes");
});

Deno.test("register: an empty name or one with a control character is invalid_name", () => {
  for (const name of ["", "a\nb", "tab\there", "nul\0", "del\x7f", "c1\u0085"]) {
    assert.equal(codeOf(() => checkName("user", name)), "invalid_name", JSON.stringify(name));
  }
});

Deno.test("register: a password of exactly 256 bytes is taken, 257 bytes is bad_register", () => {
  assert.equal(MAX_PASSWORD_BYTES, 256);
  assert.equal(registerOf("ana", "p".repeat(256)).userPassword.length, 256);
  assert.equal(registerOf("ana", "pw", "band", "ü".repeat(128)).groupPassword.length, 256);
  assert.equal(codeOf(() => registerOf("ana", "p".repeat(257))), "bad_register");
  assert.equal(codeOf(() => registerOf("ana", "pw", "band", "ü".repeat(128) + "!")), "bad_register");
});
