/**
 * What the router needs of a connection. The server implements it over TCP;
 * tests implement it with fakes.
 *
 * @module
 */

import type { Framing } from "../framing/detect.ts";
import type { OutgoingPacket } from "../framing/outgoing.ts";

/** One client connection, as the router sees it. */
export interface Session {
  /** How the connection carries packets: a TCP framing, or one WebSocket message per packet. */
  readonly framing: Framing | "websocket";
  /** The peer's address, for logs ("203.0.113.5:51234"). */
  readonly peer: string;
  /**
   * The client's network address without the port, the key of per-address limits: an IPv4
   * address ("203.0.113.5"), or an IPv6 /64 prefix ("2001:db8:1:2::/64"), since one IPv6
   * host commonly holds a whole /64.
   */
  readonly address: string;
  /**
   * Queues a packet for this connection. Must take what it needs (the frame) during the
   * call: the packet's bytes may be a view of a read buffer that is reused afterwards.
   */
  send(packet: OutgoingPacket): void;
  /** When the connection was accepted (ms since the epoch), for the status page. */
  readonly connectedAt?: number;
  /** Bytes waiting to be written to this client, for the status page. */
  readonly pendingBytes?: number;
  /** Flushes what is queued, then closes the connection; `reason` is logged. */
  close(reason: string): void;
  /**
   * Optional: the client sent `/oscrouter/ping`, so it is expected to keep sending; a transport
   * with a ping timeout closes it after a silence (TCP: `--ping-timeout`).
   */
  markPinging?(): void;
}
