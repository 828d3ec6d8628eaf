/**
 * A router session over WebSocket: one binary message is one OSC packet.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { OutgoingPacket } from "../framing/outgoing.ts";
import { ProtocolError } from "../router/error_code.ts";
import type { Router } from "../router/router.ts";
import type { Session } from "../router/session.ts";

const logger = getLogger(["tcposcrouter", "websocket"]);

/** Settings a WebSocket session needs. */
export interface WebSocketSessionOptions {
  router: Router;
  maxPacketBytes: number;
  /** Bytes the socket may have buffered for this client before it is cut off. */
  maxQueueBytes: number;
  registerTimeoutMs: number;
  onClosed: (session: WebSocketSession) => void;
  onSlowConsumer: () => void;
}

/**
 * A browser (or any WebSocket client) in the router: the same protocol, errors and limits
 * as the TCP ports, with one binary message per OSC packet.
 */
export class WebSocketSession implements Session {
  readonly framing = "websocket" as const;
  readonly peer: string;
  readonly address: string;
  #socket: WebSocket;
  #options: WebSocketSessionOptions;
  #closing = false;
  #gone = false;
  #registerTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param socket the upgraded socket (not yet open)
   * @param peer the client's address, for logs
   * @param address the client's address key (see `addressKey`)
   * @param options shared settings
   */
  constructor(socket: WebSocket, peer: string, address: string, options: WebSocketSessionOptions) {
    this.#socket = socket;
    this.peer = peer;
    this.address = address;
    this.#options = options;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      logger.info("WebSocket connection from {peer}", { peer });
      this.#registerTimer = setTimeout(() => {
        if (!options.router.isRegistered(this)) options.router.expire(this, options.registerTimeoutMs / 1000);
      }, options.registerTimeoutMs);
    };
    socket.onmessage = (event) => this.#receive(event.data);
    socket.onclose = () => this.#teardown();
    socket.onerror = () => {}; // the close event follows
  }

  /** Sends a packet as one binary message; a client too far behind is cut off. */
  send(packet: OutgoingPacket): void {
    if (this.#closing || this.#socket.readyState !== WebSocket.OPEN) return;
    const bytes = packet.packet;
    if (this.#socket.bufferedAmount + bytes.length > this.#options.maxQueueBytes) {
      this.#options.onSlowConsumer();
      logger.warn("Slow consumer {peer} ({who}): more than {max} bytes pending; closing it", {
        peer: this.peer,
        who: this.#options.router.describe(this) ?? "not registered",
        max: this.#options.maxQueueBytes,
      });
      this.#closing = true;
      this.#socket.close(1008, "slow consumer");
      return;
    }
    // The bytes may be a view of a read buffer that is reused after this call: Deno's send
    // copies them before it returns (tests/http checks this under a burst), so no slice here.
    this.#socket.send(bytes);
  }

  /** Closes after what is queued (a WebSocket close follows the data already sent). */
  close(reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    logger.info("Closing {peer} ({who}): {reason}", {
      peer: this.peer,
      who: this.#options.router.describe(this) ?? "not registered",
      reason,
    });
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(1000, reason.slice(0, 120));
  }

  #receive(data: unknown): void {
    if (this.#closing) return;
    const { router, maxPacketBytes } = this.#options;
    if (!(data instanceof ArrayBuffer)) {
      router.sendError(
        this,
        new ProtocolError("malformed_packet", "Send each OSC packet as one binary WebSocket message, not text", ""),
      );
      return;
    }
    if (data.byteLength > maxPacketBytes) {
      router.sendError(
        this,
        new ProtocolError(
          "packet_too_large",
          `Packet of ${data.byteLength} bytes is larger than the limit of ${maxPacketBytes} bytes; it was dropped`,
          "",
        ),
      );
      return;
    }
    router.receive(this, new Uint8Array(data));
  }

  #teardown(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#closing = true;
    clearTimeout(this.#registerTimer);
    this.#options.router.leave(this);
    this.#options.onClosed(this);
  }
}
