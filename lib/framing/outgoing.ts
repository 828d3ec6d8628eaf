/**
 * A packet on its way to many recipients, framed at most once per framing.
 *
 * @module
 */

import type { Framing } from "./detect.ts";
import { encodeFrame } from "./by_framing.ts";

/**
 * A packet to send, with its frames built lazily and shared: however many recipients
 * use a framing, the frame is built once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OutgoingPacket } from "./outgoing.ts";
 * const out = new OutgoingPacket(new Uint8Array([0x2f, 0, 0, 0]));
 * assert.ok(out.frame("slip") === out.frame("slip"));
 * assert.ok(out.frame("length-prefix").length === 8);
 * ```
 */
export class OutgoingPacket {
  #lengthPrefixed: Uint8Array | undefined;
  #slip: Uint8Array | undefined;

  /**
   * A packet to frame for its recipients.
   *
   * @param packet the packet's bytes; must not change while frames may still be built
   */
  constructor(readonly packet: Uint8Array) {}

  /**
   * The packet framed for `framing`.
   *
   * @param framing the recipient's framing
   * @returns the frame (shared: do not modify)
   */
  frame(framing: Framing): Uint8Array {
    if (framing === "slip") return this.#slip ??= encodeFrame(framing, this.packet);
    return this.#lengthPrefixed ??= encodeFrame(framing, this.packet);
  }
}
