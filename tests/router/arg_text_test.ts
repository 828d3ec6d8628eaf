/** How numeric arguments read as text (register ids, a Pd private message's target): float32 at its shortest. */
import assert from "node:assert/strict";
import { argText } from "../../lib/router/arg_text.ts";

Deno.test("argText: a float32 is written with the fewest digits that give the same float32", () => {
  const table: [number, string][] = [
    [0.1, "0.1"],
    [3, "3"],
    [-2.5, "-2.5"],
    [1e-7, "1e-7"],
    [16777216, "16777216"],
    [0.3333333432674408, "0.33333334"],
    [Infinity, "Infinity"],
    [NaN, "NaN"],
  ];
  for (const [value, text] of table) {
    assert.equal(argText({ type: "f", value: Math.fround(value) }), text, String(value));
  }
});

Deno.test("argText: ints, int64s, doubles and strings as they are; other types have no text", () => {
  assert.equal(argText({ type: "i", value: -7 }), "-7");
  assert.equal(argText({ type: "h", value: -(2n ** 63n) }), "-9223372036854775808");
  assert.equal(argText({ type: "d", value: 0.1 }), "0.1");
  assert.equal(argText({ type: "s", value: "ana" }), "ana");
  assert.equal(argText({ type: "S", value: "sym" }), "sym");
  assert.equal(argText({ type: "T" }), undefined);
});
