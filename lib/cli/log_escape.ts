/**
 * Escaping of values written into text log lines, so a value a client chose (a peer string, an OSC address,
 * an error message) can neither start a new line nor reach the operator's terminal as a control sequence.
 *
 * @module
 */

/**
 * C0 controls, DEL, C1 controls (U+0080–U+009F, which include the one-byte CSI U+009B), the Unicode line and paragraph
 * separators, and the bidirectional overrides and isolates that can make a line read differently from its bytes.
 */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.charCodeAt(0);
  // C0 and DEL as \xHH (as a terminal user writes ESC: \x1b); the rest as \uHHHH, as JSON would.
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * Makes a value safe to interpolate into a one-line text log: newlines, tabs, C0 and C1 control characters, DEL, ESC
 * (and so every ANSI escape sequence), U+2028/U+2029 and bidirectional controls become visible escapes (`\n`, `\x1b`,
 * `\u009b`, `\u202e`). Everything else, backslashes included, is kept as is, so ordinary text and paths read naturally.
 *
 * @param text the value as text
 * @returns the text on one line, with no control characters
 *
 * @example Escaping a forged log line
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeLogText } from "./log_escape.ts";
 *
 * assert.equal(
 *   escapeLogText("x\nfake@band registered from 10.0.0.1 \x1b[31m"),
 *   "x\\nfake@band registered from 10.0.0.1 \\x1b[31m",
 * );
 * assert.equal(escapeLogText("\u009b2J"), "\\u009b2J");
 * assert.equal(escapeLogText("ana@band"), "ana@band");
 * ```
 */
export function escapeLogText(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escapeOne) : text;
}

/**
 * Escapes, in a line of JSON, the characters `JSON.stringify` leaves raw but a terminal or a line-based reader acts on
 * (DEL, C1 controls, U+2028/U+2029, bidirectional controls). The result parses to the same value.
 *
 * @param json the output of `JSON.stringify`
 * @returns the same JSON with those characters as `\uHHHH` escapes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeJsonLine } from "./log_escape.ts";
 *
 * const line = escapeJsonLine(JSON.stringify({ peer: "a\u009b2J\nb" }));
 * assert.equal(line, '{"peer":"a\\u009b2J\\nb"}');
 * assert.deepEqual(JSON.parse(line), { peer: "a\u009b2J\nb" });
 * ```
 */
export function escapeJsonLine(json: string): string {
  return json.replace(
    /[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
