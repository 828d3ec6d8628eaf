/**
 * Per-connection traffic for the operator's view: packets and bytes each connection sent.
 * Kept in a WeakMap by session, so a closed connection's figures go with it. No clock is read
 * per packet (that would cost more than the count): the status page's sampler derives the time
 * of the last packet from when the count last changed.
 *
 * @module
 */

/** What one connection has sent. */
export interface TrafficFigures {
  /** Packets it sent. */
  packetsIn: number;
  /** Bytes it sent. */
  bytesIn: number;
}

/**
 * Counts the packets each session sends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SessionTraffic } from "./session_traffic.ts";
 * const traffic = new SessionTraffic();
 * const session = {};
 * traffic.count(session, 20);
 * traffic.count(session, 12);
 * assert.deepEqual(traffic.of(session), { packetsIn: 2, bytesIn: 32 });
 * assert.deepEqual(traffic.of({}), { packetsIn: 0, bytesIn: 0 });
 * ```
 */
export class SessionTraffic {
  #figures = new WeakMap<object, TrafficFigures>();

  /**
   * Counts one packet a session sent.
   *
   * @param session the sender
   * @param bytes the packet's size
   */
  count(session: object, bytes: number): void {
    const figures = this.#figures.get(session);
    if (figures === undefined) {
      this.#figures.set(session, { packetsIn: 1, bytesIn: bytes });
      return;
    }
    figures.packetsIn++;
    figures.bytesIn += bytes;
  }

  /**
   * What a session has sent so far.
   *
   * @param session a connection
   * @returns its figures (zeros before its first packet)
   */
  of(session: object): TrafficFigures {
    const figures = this.#figures.get(session);
    return figures === undefined ? { packetsIn: 0, bytesIn: 0 } : { ...figures };
  }
}
