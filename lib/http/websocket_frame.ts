/**
 * WebSocket frame headers as a server writes them (RFC 6455 section 5.2): one final, unmasked
 * binary frame per packet.
 *
 * @module
 */

/**
 * How long the header of a server's frame with `payloadBytes` of payload is: 2 bytes up to 125,
 * 4 bytes up to 65,535, 10 bytes above.
 *
 * @param payloadBytes the payload's length
 * @returns the header's length in bytes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { webSocketHeaderBytes } from "./websocket_frame.ts";
 * assert.equal(webSocketHeaderBytes(125), 2);
 * assert.equal(webSocketHeaderBytes(126), 4);
 * assert.equal(webSocketHeaderBytes(65536), 10);
 * ```
 */
export function webSocketHeaderBytes(payloadBytes: number): number {
  return payloadBytes < 126 ? 2 : payloadBytes <= 0xffff ? 4 : 10;
}

/**
 * Writes the header of a final, unmasked binary frame (opcode 2) of `payloadBytes` into `target`
 * at `at`; the payload goes right after it.
 *
 * @param target where to write (room for {@link webSocketHeaderBytes} bytes at `at`)
 * @param at where the header starts
 * @param payloadBytes the payload's length
 * @returns the header's length in bytes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeWebSocketHeader } from "./websocket_frame.ts";
 * const frame = new Uint8Array(4);
 * assert.equal(writeWebSocketHeader(frame, 0, 2), 2);
 * frame.set([1, 2], 2);
 * assert.equal(frame.join(), "130,2,1,2");
 * ```
 */
export function writeWebSocketHeader(target: Uint8Array, at: number, payloadBytes: number): number {
  target[at] = 0x82; // FIN, binary
  if (payloadBytes < 126) {
    target[at + 1] = payloadBytes;
    return 2;
  }
  if (payloadBytes <= 0xffff) {
    target[at + 1] = 126;
    target[at + 2] = payloadBytes >>> 8;
    target[at + 3] = payloadBytes & 0xff;
    return 4;
  }
  target[at + 1] = 127;
  const high = Math.floor(payloadBytes / 0x1_0000_0000);
  target[at + 2] = high >>> 24;
  target[at + 3] = (high >>> 16) & 0xff;
  target[at + 4] = (high >>> 8) & 0xff;
  target[at + 5] = high & 0xff;
  target[at + 6] = payloadBytes >>> 24;
  target[at + 7] = (payloadBytes >>> 16) & 0xff;
  target[at + 8] = (payloadBytes >>> 8) & 0xff;
  target[at + 9] = payloadBytes & 0xff;
  return 10;
}
