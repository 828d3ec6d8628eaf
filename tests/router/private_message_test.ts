/**
 * The private-message rewrite, byte for byte: the sender's name replaces the target with its own
 * NUL padding (names of every length mod 4), and a numeric target (Pd sends a float) becomes an
 * `s` argument while everything after it is copied untouched.
 */
import assert from "node:assert/strict";
import { rewritePrivate } from "../../lib/router/private_message.ts";
import { hex, oscString, toHex } from "../hex.ts";
import { join } from "../framing/frames.ts";

/** Joins byte arrays (the expected packets are built by hand, not with the codec under test). */
const cat = (...parts: Uint8Array[]): Uint8Array => join(parts);

const ADDRESS = hex("2f 6f 73 63 72 6f 75 74 65 72 2f 70 72 69 76 61 74 65 00 00"); // "/oscrouter/private" + 2 NUL
const KEY = oscString("whispa");
const FLOAT_HALF = hex("3f 00 00 00"); // 0.5f
const INT_FIVE = hex("00 00 00 05");

for (const name of ["a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh", "ñ"]) {
  const size = new TextEncoder().encode(name).length;
  Deno.test(`private rewrite: a sender name of ${size} bytes (${size % 4} mod 4) gets 1 to 4 NUL bytes`, () => {
    const sent = cat(ADDRESS, oscString(",ssf"), oscString("bob"), KEY, FLOAT_HALF);
    const expected = cat(ADDRESS, oscString(",ssf"), oscString(name), KEY, FLOAT_HALF);
    // The padding by hand: the name, then 4 - size % 4 NUL bytes.
    assert.equal(oscString(name).length, size + 4 - (size % 4));
    assert.equal(toHex(rewritePrivate(sent, name)), toHex(expected));
  });
}

Deno.test("private rewrite: a float target (Pd) becomes the sender's name with the tag 's'", () => {
  const sent = cat(ADDRESS, oscString(",fsi"), hex("40 40 00 00"), KEY, INT_FIVE); // target 3.0f
  const out = rewritePrivate(sent, "abcd");
  assert.equal(toHex(out), toHex(cat(ADDRESS, oscString(",ssi"), oscString("abcd"), KEY, INT_FIVE)));
});

Deno.test("private rewrite: an int or double target becomes 's' too; an 'S' target stays 'S'", () => {
  const fromInt = cat(ADDRESS, oscString(",is"), INT_FIVE, KEY);
  assert.equal(toHex(rewritePrivate(fromInt, "ana")), toHex(cat(ADDRESS, oscString(",ss"), oscString("ana"), KEY)));
  const fromDouble = cat(ADDRESS, oscString(",ds"), hex("3f f0 00 00 00 00 00 00"), KEY);
  assert.equal(toHex(rewritePrivate(fromDouble, "ana")), toHex(cat(ADDRESS, oscString(",ss"), oscString("ana"), KEY)));
  const symbol = cat(ADDRESS, oscString(",Ss"), oscString("bob"), KEY);
  assert.equal(toHex(rewritePrivate(symbol, "anna")), toHex(cat(ADDRESS, oscString(",Ss"), oscString("anna"), KEY)));
});
