/**
 * Typed framing errors. A deframer emits them in-band, in order with the packets,
 * so the packets before an error are never lost; `fatal` says whether the stream
 * can go on (SLIP resynchronises on the next END; a length prefix cannot).
 *
 * @module
 */

/** The protocol's error code for each framing error. */
export type FramingErrorCode = "packet_too_large" | "bad_frame" | "malformed_packet" | "server_busy";

/**
 * A frame is larger than the configured maximum packet size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameTooLargeError } from "./errors.ts";
 * const e = new FrameTooLargeError(2048, 1024, true);
 * assert.ok(e.code === "packet_too_large" && e.fatal);
 * ```
 */
export class FrameTooLargeError extends RangeError {
  /** Protocol error code. */
  readonly code = "packet_too_large";
  /**
   * A frame of `sizeBytes` over `maxPacketBytes`.
   *
   * @param sizeBytes the frame's size (announced by a length prefix, or reached so far in SLIP)
   * @param maxPacketBytes the limit
   * @param fatal true when the stream cannot continue
   */
  constructor(readonly sizeBytes: number, readonly maxPacketBytes: number, readonly fatal: boolean) {
    super(
      `Packet of ${sizeBytes} bytes${fatal ? "" : " or more"} is larger than the limit of ${maxPacketBytes} bytes`,
    );
    this.name = "FrameTooLargeError";
  }
}

/**
 * A frame is broken: an impossible length prefix, a bad SLIP escape, or a first
 * byte that belongs to no framing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BadFrameError } from "./errors.ts";
 * const e = new BadFrameError("Length prefix 0 is not a valid packet size", true);
 * assert.ok(e.code === "bad_frame");
 * ```
 */
export class BadFrameError extends SyntaxError {
  /** Protocol error code. */
  readonly code = "bad_frame";
  /**
   * A broken frame.
   *
   * @param message what is wrong with the frame
   * @param fatal true when the stream cannot continue
   */
  constructor(message: string, readonly fatal: boolean) {
    super(message);
    this.name = "BadFrameError";
  }
}

/**
 * A length-prefixed frame whose size is not a multiple of 4: it cannot be an OSC
 * packet, but the stream is still in sync, so only that frame is skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MisalignedFrameError } from "./errors.ts";
 * assert.ok(!new MisalignedFrameError(5).fatal);
 * ```
 */
export class MisalignedFrameError extends SyntaxError {
  /** Protocol error code. */
  readonly code = "malformed_packet";
  /** Never fatal: the stream stays in sync. */
  readonly fatal = false;
  /**
   * A frame of `sizeBytes`, not a multiple of 4.
   *
   * @param sizeBytes the frame's size
   */
  constructor(readonly sizeBytes: number) {
    super(`Packet size ${sizeBytes} is not a multiple of 4, so it is not OSC; the packet was skipped`);
    this.name = "MisalignedFrameError";
  }
}

/**
 * The memory needed to gather a packet that spans reads was refused (the router's memory budget
 * is full): the packet is dropped. Fatal for a length prefix (the rest of the packet cannot be
 * skipped reliably once the connection is cut), not for SLIP (reading resumes after the next END).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerBusyError } from "./errors.ts";
 * const e = new ServerBusyError(1 << 20, true);
 * assert.ok(e.code === "server_busy" && e.fatal);
 * ```
 */
export class ServerBusyError extends RangeError {
  /** Protocol error code. */
  readonly code = "server_busy";
  /**
   * A packet of `sizeBytes` that could not be gathered.
   *
   * @param sizeBytes the packet's size (announced by a length prefix, or reached so far in SLIP)
   * @param fatal true when the stream cannot continue
   */
  constructor(readonly sizeBytes: number, readonly fatal: boolean) {
    super(
      `The router has no memory left for a packet of ${sizeBytes} bytes${
        fatal ? "" : " or more"
      } (its memory budget is full); try again later or send smaller packets`,
    );
    this.name = "ServerBusyError";
  }
}

/** Any error a deframer emits. */
export type FramingError = FrameTooLargeError | BadFrameError | MisalignedFrameError | ServerBusyError;

/** What a deframer emits, in stream order: a whole packet, or an error. */
export type Deframed = Uint8Array | FramingError;
