/**
 * OSC arguments as text, the way the original router and Pd print them.
 *
 * @module
 */

import type { HeadArg } from "../osc/types.ts";

/**
 * The shortest decimal text that reads back as the same float32 (Pd sends `1.1` as the
 * float32 nearest to it; users expect "1.1", not "1.100000023841858").
 */
function float32Text(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  for (let digits = 1; digits <= 9; digits++) {
    const shortest = Number(value.toPrecision(digits));
    if (Math.fround(shortest) === value) return String(shortest);
  }
  return String(value);
}

/**
 * An argument as text: strings verbatim, integers in decimal, integral floats without
 * `.0`. Other types (blobs, booleans, ...) have no text.
 *
 * @param arg a decoded argument (an array has no text)
 * @returns its text, or undefined when it has none
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { argText } from "./arg_text.ts";
 * assert.equal(argText({ type: "f", value: 42 }), "42");
 * assert.equal(argText({ type: "f", value: Math.fround(1.1) }), "1.1");
 * assert.equal(argText({ type: "h", value: 7n }), "7");
 * assert.equal(argText({ type: "S", value: "ana" }), "ana");
 * assert.equal(argText({ type: "T" }), undefined);
 * ```
 */
export function argText(arg: HeadArg): string | undefined {
  switch (arg.type) {
    case "s":
    case "S":
      return arg.value;
    case "i":
    case "h":
      return String(arg.value);
    case "f":
      return float32Text(arg.value);
    case "d":
      return String(arg.value);
    default:
      return undefined;
  }
}
