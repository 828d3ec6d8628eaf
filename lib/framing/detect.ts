/**
 * Framing detection from a connection's first byte (PROTOCOL.md section 1).
 *
 * @module
 */

/** The two OSC stream framings. */
export type Framing = "length-prefix" | "slip";

/**
 * Picks the framing a client uses from the first byte it sent.
 *
 * A length prefix starts with `0x00` (every allowed size is below 16 MiB); SLIP
 * starts with END (`0xC0`) or directly with the packet: `/` for a message, `#`
 * for a bundle.
 *
 * @param firstByte the connection's first byte
 * @returns the framing, or undefined when no framing starts that way
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectFraming } from "./detect.ts";
 * assert.ok(detectFraming(0x00) === "length-prefix");
 * assert.ok(detectFraming(0xc0) === "slip");
 * assert.ok(detectFraming(0x47) === undefined); // "G", as in "GET /"
 * ```
 */
export function detectFraming(firstByte: number): Framing | undefined {
  if (firstByte === 0x00) return "length-prefix";
  if (firstByte === 0xc0 || firstByte === 0x2f || firstByte === 0x23) return "slip";
  return undefined;
}
