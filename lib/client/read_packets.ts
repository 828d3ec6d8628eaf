/**
 * The one read loop of a router client: bytes from a connection, deframed into packets.
 *
 * @module
 */

import { createDecoder } from "../framing/by_framing.ts";
import type { Framing } from "../framing/detect.ts";
import type { Deframed } from "../framing/errors.ts";

/** What the read loop needs of a connection: a `Deno.TcpConn`, or anything that reads like one. */
export interface PacketSource {
  /**
   * Reads into `buffer`.
   *
   * @param buffer where the bytes go
   * @returns how many bytes were read, or null at the end of the stream
   */
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Options of `readPackets`. */
export interface ReadPacketsOptions {
  /** Largest packet accepted; a larger announced size ends a length-prefixed stream with an error item. */
  maxPacketBytes: number;
}

/**
 * Reads `source` until it ends and hands each read's packets to `onPackets`, in stream order,
 * framing errors among them as `FramingError` items (what to do with one is the caller's choice).
 *
 * The packets are views of one read buffer that the next read reuses: they are valid only until
 * `onPackets` returns, so copy (`packet.slice()`) any packet you keep.
 *
 * @param source the connection
 * @param framing the connection's framing
 * @param options the packet size limit
 * @param onPackets called once per read with what it completed; return `false` to stop reading
 * @returns settles when the source ends or `onPackets` returned false; rejects with a read's
 * error (the connection was reset or closed under it) or with what `onPackets` threw
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPackets } from "./read_packets.ts";
 * const chunks = [new Uint8Array([0, 0, 0, 4, 1, 2]), new Uint8Array([3, 4])];
 * const source = { read: (buffer: Uint8Array) => {
 *   const chunk = chunks.shift();
 *   if (chunk === undefined) return Promise.resolve(null);
 *   buffer.set(chunk);
 *   return Promise.resolve(chunk.length);
 * } };
 * const packets: Uint8Array[] = [];
 * await readPackets(source, "length-prefix", { maxPacketBytes: 1024 }, (items) => {
 *   for (const item of items) if (item instanceof Uint8Array) packets.push(item.slice());
 * });
 * assert.deepEqual(packets, [new Uint8Array([1, 2, 3, 4])]);
 * ```
 */
export async function readPackets(
  source: PacketSource,
  framing: Framing,
  options: ReadPacketsOptions,
  onPackets: (items: readonly Deframed[]) => boolean | void,
): Promise<void> {
  const decoder = createDecoder(framing, { maxPacketBytes: options.maxPacketBytes });
  const buffer = new Uint8Array(64 * 1024);
  const out: Deframed[] = [];
  for (;;) {
    const n = await source.read(buffer);
    if (n === null) return;
    decoder.push(buffer.subarray(0, n), out);
    const goOn = onPackets(out);
    out.length = 0;
    if (goOn === false) return;
  }
}
