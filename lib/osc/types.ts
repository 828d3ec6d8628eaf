/**
 * The OSC value model shared by the decoder and the encoder.
 *
 * Each argument keeps its type tag so that a decode followed by an encode
 * gives back the same bytes (an `S` stays an `S`, an `h` stays an `h`).
 *
 * @module
 */

/** An OSC argument, tagged with its OSC 1.0 / 1.1 type tag. */
export type OscArg =
  /** int32 */
  | { type: "i"; value: number }
  /** float32 (the value is what a float32 can hold) */
  | { type: "f"; value: number }
  /** string, or alternate string ("symbol") */
  | { type: "s" | "S"; value: string }
  /** blob */
  | { type: "b"; value: Uint8Array }
  /** int64 */
  | { type: "h"; value: bigint }
  /** timetag, 64-bit NTP (seconds since 1900 in the high 32 bits) */
  | { type: "t"; value: bigint }
  /** float64 */
  | { type: "d"; value: number }
  /** character, as its 32-bit code */
  | { type: "c"; value: number }
  /** RGBA colour, as an unsigned 32-bit integer */
  | { type: "r"; value: number }
  /** MIDI message: port id, status, data1, data2 */
  | { type: "m"; value: Uint8Array }
  /** true, false, nil, infinitum: no payload */
  | { type: "T" | "F" | "N" | "I" }
  /** array `[ ... ]` */
  | { type: "["; value: OscArg[] };

/** An OSC message: an address and its arguments. */
export interface OscMessage {
  /** OSC address, beginning with `/`. */
  address: string;
  /** Arguments in order. */
  args: OscArg[];
}

/** An OSC bundle: a timetag and its elements, each a message or a bundle. */
export interface OscBundle {
  /** 64-bit NTP timetag; 1n means "immediately". */
  timetag: bigint;
  /** Elements in order. */
  elements: OscPacket[];
}

/** A message or a bundle. */
export type OscPacket = OscMessage | OscBundle;

/** An argument as `readMessageHead` gives it: values as `OscArg`, an array by its type alone. */
export type HeadArg = Exclude<OscArg, { type: "[" }> | { type: "[" };

/** The start of a message, as `readMessageHead` reads it. */
export interface MessageHead {
  /** OSC address, beginning with `/`. */
  address: string;
  /** The first arguments, at most as many as asked for. */
  args: HeadArg[];
  /** True when the message has more top-level arguments than were read. */
  more: boolean;
}
