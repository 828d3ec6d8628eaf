/**
 * The WebSocket wire format (RFC 6455) as a server speaks it: the handshake's accept key, an
 * incremental decoder of client frames that refuses a message over its size limit as soon as a
 * frame header announces it (before any of it is buffered), and frame headers for what the server
 * sends. Served this way rather than with `Deno.upgradeWebSocket`, which has no size limit and
 * buffers messages of up to 64 MiB before the router sees them.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The GUID every server appends to the client's key (RFC 6455 section 1.3). */
const HANDSHAKE_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Frame opcodes. */
export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Close codes the router sends. */
export const CLOSE_CODE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
} as const;

/**
 * The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
 *
 * @example The example of RFC 6455 section 1.3
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptKey } from "./websocket_frames.ts";
 * assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * ```
 *
 * @param key the client's key
 * @returns the accept value
 */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + HANDSHAKE_GUID).digest("base64");
}

/**
 * The header of an unmasked frame the server sends (FIN set, no extensions).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frameHeader, OPCODE } from "./websocket_frames.ts";
 * assert.deepEqual([...frameHeader(OPCODE.binary, 5)], [0x82, 5]);
 * assert.deepEqual([...frameHeader(OPCODE.binary, 300)], [0x82, 126, 1, 44]);
 * assert.equal(frameHeader(OPCODE.binary, 70_000).length, 10);
 * ```
 *
 * @param opcode the frame's opcode
 * @param payloadBytes the payload's length
 * @returns the 2, 4 or 10 header bytes
 */
export function frameHeader(opcode: number, payloadBytes: number): Uint8Array {
  const first = 0x80 | opcode;
  if (payloadBytes < 126) return Uint8Array.of(first, payloadBytes);
  if (payloadBytes < 0x10000) return Uint8Array.of(first, 126, payloadBytes >>> 8, payloadBytes & 0xff);
  const header = new Uint8Array(10);
  header[0] = first;
  header[1] = 127;
  const view = new DataView(header.buffer);
  view.setUint32(2, Math.floor(payloadBytes / 2 ** 32));
  view.setUint32(6, payloadBytes >>> 0);
  return header;
}

/**
 * A close frame's payload: the code and a reason cut to fit the 125-byte limit.
 *
 * @param code the close code
 * @param reason why, in UTF-8 (cut at 120 bytes)
 * @returns the payload
 */
export function closePayload(code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, 120);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

/** What the decoder found in the bytes it was given. */
export type WebSocketEvent =
  | { kind: "message"; binary: boolean; data: Uint8Array }
  | { kind: "ping"; data: Uint8Array }
  | { kind: "pong" }
  | { kind: "close"; code: number | undefined }
  /** A message over the limit was announced; nothing of it was kept. The stream cannot go on. */
  | { kind: "too_large"; announcedBytes: number }
  /** The client broke the protocol (RFC 6455 says: fail the connection). */
  | { kind: "protocol_error"; reason: string };

/**
 * Decodes frames from a client, incrementally. A message whose announced length (one frame's,
 * or the sum of its fragments) passes `maxMessageBytes` yields `too_large` as soon as the frame
 * header is read: its payload is never buffered. Memory held between calls is at most one
 * message under the limit (a frame's buffer grows with what arrived, at most twice that)
 * plus one frame header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WebSocketDecoder } from "./websocket_frames.ts";
 * const decoder = new WebSocketDecoder(4);
 * // A masked binary frame of 2 bytes, in two pieces.
 * assert.deepEqual(decoder.push(Uint8Array.of(0x82, 0x82, 1, 2)), []);
 * const [event] = decoder.push(Uint8Array.of(3, 4, 0 ^ 1, 9 ^ 2));
 * assert.deepEqual(event, { kind: "message", binary: true, data: Uint8Array.of(0, 9) });
 * // A frame header announcing 2^32 bytes: refused before any payload arrives.
 * const huge = Uint8Array.of(0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4);
 * assert.deepEqual(new WebSocketDecoder(4).push(huge), [{ kind: "too_large", announcedBytes: 2 ** 32 }]);
 * ```
 */
export class WebSocketDecoder {
  readonly maxMessageBytes: number;
  /** An incomplete frame header (at most 14 bytes). */
  #header = new Uint8Array(14);
  #headerFilled = 0;
  /** The frame whose payload is being read, once its header is complete. */
  #frame: { opcode: number; fin: boolean; length: number; mask: Uint8Array } | undefined;
  /** Its payload so far: grown by doubling, so a trickled frame costs its bytes, not a piece per read. */
  #payload = new Uint8Array(0);
  #payloadFilled = 0;
  /** Fragments of the message being assembled (after its first frame). */
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #fragmentBinary = false;
  #inMessage = false;
  #failed = false;

  /**
   * @param maxMessageBytes the largest message accepted (the router's --max-packet-bytes)
   */
  constructor(maxMessageBytes: number) {
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Bytes held for incomplete frames and messages. */
  get heldBytes(): number {
    return this.#headerFilled + this.#payload.length + this.#fragmentBytes;
  }

  /**
   * Feeds bytes read from the socket (copied where they must be kept: the caller may reuse them).
   *
   * @param chunk bytes from the client
   * @returns the events complete so far; after `too_large`, `protocol_error` or `close` nothing more
   */
  push(chunk: Uint8Array): WebSocketEvent[] {
    const events: WebSocketEvent[] = [];
    let at = 0;
    while (!this.#failed && at < chunk.length) {
      if (this.#frame === undefined) {
        at = this.#readHeader(chunk, at, events);
        continue;
      }
      const frame = this.#frame;
      const n = Math.min(chunk.length - at, frame.length - this.#payloadFilled);
      if (this.#payloadFilled + n > this.#payload.length) {
        const grown = new Uint8Array(
          Math.min(frame.length, Math.max(2 * this.#payload.length, this.#payloadFilled + n, 4096)),
        );
        grown.set(this.#payload.subarray(0, this.#payloadFilled));
        this.#payload = grown;
      }
      this.#payload.set(chunk.subarray(at, at + n), this.#payloadFilled);
      this.#payloadFilled += n;
      at += n;
      if (this.#payloadFilled === frame.length) this.#endFrame(events);
    }
    return events;
  }

  /** Reads header bytes at `at`; returns the offset after what it used. */
  #readHeader(chunk: Uint8Array, at: number, events: WebSocketEvent[]): number {
    const header = this.#header;
    // Take bytes one at a time until the header's length is known (2 to 14 bytes: small).
    while (at < chunk.length) {
      header[this.#headerFilled++] = chunk[at++]!;
      const need = this.#headerNeeds();
      if (need === this.#headerFilled) break;
    }
    if (this.#headerFilled < 2 || this.#headerNeeds() !== this.#headerFilled) return at;
    this.#headerFilled = 0;
    const b0 = header[0]!;
    const b1 = header[1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return this.#fail(events, "reserved bits set (no extension was agreed)", at);
    if ((b1 & 0x80) === 0) return this.#fail(events, "a client's frames must be masked", at);
    let length = b1 & 0x7f;
    let maskAt = 2;
    if (length === 126) {
      length = (header[2]! << 8) | header[3]!;
      maskAt = 4;
    } else if (length === 127) {
      const view = new DataView(header.buffer, 2, 8);
      // Exact up to 2^53; anything larger is over every limit anyway.
      length = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
      maskAt = 10;
    }
    const isControl = (opcode & 0x08) !== 0;
    if (isControl) {
      if (!fin || length > 125) return this.#fail(events, "control frames must be whole and at most 125 bytes", at);
      if (opcode !== OPCODE.close && opcode !== OPCODE.ping && opcode !== OPCODE.pong) {
        return this.#fail(events, `unknown opcode ${opcode}`, at);
      }
    } else {
      if (opcode !== OPCODE.continuation && opcode !== OPCODE.text && opcode !== OPCODE.binary) {
        return this.#fail(events, `unknown opcode ${opcode}`, at);
      }
      if (opcode === OPCODE.continuation && !this.#inMessage) {
        return this.#fail(events, "a continuation frame without a message to continue", at);
      }
      if (opcode !== OPCODE.continuation && this.#inMessage) {
        return this.#fail(events, "a new message began before the previous one ended", at);
      }
      const total = (opcode === OPCODE.continuation ? this.#fragmentBytes : 0) + length;
      if (total > this.maxMessageBytes) {
        this.#failed = true;
        this.#dropMessage();
        events.push({ kind: "too_large", announcedBytes: total });
        return at;
      }
    }
    this.#frame = { opcode, fin, length, mask: header.slice(maskAt, maskAt + 4) };
    this.#payload = new Uint8Array(0);
    this.#payloadFilled = 0;
    if (length === 0) this.#endFrame(events);
    return at;
  }

  /** The header's full length, as far as its first two bytes tell (2 until they are in). */
  #headerNeeds(): number {
    if (this.#headerFilled < 2) return 2;
    if ((this.#header[1]! & 0x80) === 0) return 2; // unmasked: refused from these two bytes
    const length = this.#header[1]! & 0x7f;
    return (length === 126 ? 4 : length === 127 ? 10 : 2) + 4;
  }

  #endFrame(events: WebSocketEvent[]): void {
    const frame = this.#frame!;
    this.#frame = undefined;
    const payload = this.#payload.length === frame.length ? this.#payload : this.#payload.slice(0, frame.length);
    this.#payload = new Uint8Array(0);
    this.#payloadFilled = 0;
    const mask = frame.mask;
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    const { opcode, fin } = frame;
    if (opcode === OPCODE.ping) events.push({ kind: "ping", data: payload });
    else if (opcode === OPCODE.pong) events.push({ kind: "pong" });
    else if (opcode === OPCODE.close) {
      events.push({ kind: "close", code: payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : undefined });
      this.#failed = true; // nothing may follow a close
    } else if (fin && opcode !== OPCODE.continuation) {
      events.push({ kind: "message", binary: opcode === OPCODE.binary, data: payload });
    } else {
      if (opcode !== OPCODE.continuation) {
        this.#inMessage = true;
        this.#fragmentBinary = opcode === OPCODE.binary;
      }
      this.#fragments.push(payload);
      this.#fragmentBytes += payload.length;
      if (fin) {
        const data = concat(this.#fragments, this.#fragmentBytes);
        this.#dropMessage();
        events.push({ kind: "message", binary: this.#fragmentBinary, data });
      }
    }
  }

  #dropMessage(): void {
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#inMessage = false;
    this.#payload = new Uint8Array(0);
    this.#payloadFilled = 0;
  }

  #fail(events: WebSocketEvent[], reason: string, at: number): number {
    this.#failed = true;
    this.#dropMessage();
    events.push({ kind: "protocol_error", reason });
    return at;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
