/**
 * Pick the decoder or the frame encoder for a framing, so callers need not branch on it.
 *
 * @module
 */

import type { Framing } from "./detect.ts";
import type { BufferGrant } from "./gather_buffer.ts";
import { encodeLengthPrefixFrame, LengthPrefixDecoder } from "./length_prefix.ts";
import { encodeSlipFrame, SlipDecoder } from "./slip.ts";

/**
 * A fresh incremental decoder for `framing`.
 *
 * @param framing the stream's framing
 * @param options the packet size limit, and the grant asked before a partial packet's buffer grows
 * @returns the decoder
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDecoder } from "./by_framing.ts";
 * import { SlipDecoder } from "./slip.ts";
 * assert.ok(createDecoder("slip", { maxPacketBytes: 64 }) instanceof SlipDecoder);
 * ```
 */
export function createDecoder(
  framing: Framing,
  options: { maxPacketBytes: number; grant?: BufferGrant },
): LengthPrefixDecoder | SlipDecoder {
  return framing === "slip" ? new SlipDecoder(options) : new LengthPrefixDecoder(options);
}

/**
 * Frames one packet for `framing`.
 *
 * @param framing the stream's framing
 * @param packet the packet's bytes
 * @returns a new buffer holding the frame
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame } from "./by_framing.ts";
 * assert.equal(encodeFrame("length-prefix", new Uint8Array(4)).length, 8);
 * ```
 */
export function encodeFrame(framing: Framing, packet: Uint8Array): Uint8Array {
  return framing === "slip" ? encodeSlipFrame(packet) : encodeLengthPrefixFrame(packet);
}
