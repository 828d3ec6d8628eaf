/**
 * Per-connection traffic for the operator's view: packets and bytes received, and when the last
 * packet came. Kept in a WeakMap by session, so a closed connection's figures go with it.
 *
 * @module
 */

/** What one connection has sent. */
export interface TrafficFigures {
  packetsIn: number;
  bytesIn: number;
  /** When the last packet arrived (ms since the epoch); undefined before the first. */
  lastPacketAt: number | undefined;
}

/**
 * Counts the packets each session sends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SessionTraffic } from "./session_traffic.ts";
 * const traffic = new SessionTraffic(() => 1000);
 * const session = {};
 * traffic.count(session, 20);
 * traffic.count(session, 12);
 * assert.deepEqual(traffic.of(session), { packetsIn: 2, bytesIn: 32, lastPacketAt: 1000 });
 * assert.deepEqual(traffic.of({}), { packetsIn: 0, bytesIn: 0, lastPacketAt: undefined });
 * ```
 */
export class SessionTraffic {
  #figures = new WeakMap<object, { packetsIn: number; bytesIn: number; lastPacketAt: number }>();
  #now: () => number;

  /** @param now the clock (ms since the epoch) */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Counts one packet a session sent.
   *
   * @param session the sender
   * @param bytes the packet's size
   */
  count(session: object, bytes: number): void {
    const figures = this.#figures.get(session);
    if (figures === undefined) {
      this.#figures.set(session, { packetsIn: 1, bytesIn: bytes, lastPacketAt: this.#now() });
      return;
    }
    figures.packetsIn++;
    figures.bytesIn += bytes;
    figures.lastPacketAt = this.#now();
  }

  /**
   * What a session has sent so far.
   *
   * @param session a connection
   * @returns its figures (zeros before its first packet)
   */
  of(session: object): TrafficFigures {
    const figures = this.#figures.get(session);
    return figures === undefined
      ? { packetsIn: 0, bytesIn: 0, lastPacketAt: undefined }
      : { packetsIn: figures.packetsIn, bytesIn: figures.bytesIn, lastPacketAt: figures.lastPacketAt };
  }
}
