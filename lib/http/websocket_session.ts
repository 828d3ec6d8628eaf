/**
 * A router session over WebSocket: one binary message is one OSC packet. The router speaks the
 * WebSocket protocol itself on the upgraded TCP connection, so a message over
 * `--max-packet-bytes` is refused from its frame header, before any of it is buffered.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { OutgoingPacket } from "../framing/outgoing.ts";
import type { BudgetHolder, MemoryBudget } from "../limits/memory_budget.ts";
import { ProtocolError } from "../router/error_code.ts";
import type { Router } from "../router/router.ts";
import type { Session } from "../router/session.ts";
import { ClientWriter } from "./client_writer.ts";
import { CLOSE_CODE, closePayload, frameHeader, OPCODE, WebSocketDecoder } from "./websocket_frames.ts";

const logger = getLogger(["tcposcrouter", "websocket"]);

/** Size of each session's read buffer (reused for every read). */
const READ_BUFFER_BYTES = 64 * 1024;
/** How long a closing session may take to flush what it has queued. */
const CLOSE_FLUSH_MS = 1000;

/** Settings a WebSocket session needs. */
export interface WebSocketSessionOptions {
  router: Router;
  /** The router's memory budget: queued and partly received bytes are charged to it. */
  budget: MemoryBudget;
  maxPacketBytes: number;
  /** Bytes that may wait for this client before it is cut off as a slow consumer. */
  maxQueueBytes: number;
  registerTimeoutMs: number;
  /** A client that takes no byte for this long while bytes wait for it is cut off. */
  writeTimeoutMs: number;
  onClosed: (session: WebSocketSession) => void;
  onSlowConsumer: () => void;
}

/**
 * A browser (or any WebSocket client) in the router: the same protocol, errors and limits
 * as the TCP ports, with one binary message per OSC packet.
 */
export class WebSocketSession implements Session, BudgetHolder {
  readonly framing = "websocket" as const;
  readonly peer: string;
  readonly address: string;
  readonly connectedAt: number = Date.now();
  #conn: Deno.TcpConn;
  #options: WebSocketSessionOptions;
  #writer: ClientWriter;
  #decoder: WebSocketDecoder;
  /** What the decoder's held bytes were last charged at. */
  #decoderCharged = 0;
  #closing = false;
  #gone = false;
  #registerTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the session is fully torn down. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  /**
   * @param conn the TCP connection, after the 101 response was written
   * @param peer the client's address, for logs
   * @param address the client's address key (see `addressKey`)
   * @param options shared settings
   */
  constructor(conn: Deno.TcpConn, peer: string, address: string, options: WebSocketSessionOptions) {
    this.#conn = conn;
    this.peer = peer;
    this.address = address;
    this.#options = options;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#decoder = new WebSocketDecoder(options.maxPacketBytes);
    this.#writer = new ClientWriter(conn, this, {
      budget: options.budget,
      maxQueueBytes: options.maxQueueBytes,
      writeTimeoutMs: options.writeTimeoutMs,
      onOverflow: () => this.#slowConsumer(`more than ${options.maxQueueBytes} bytes pending`),
      onWriteTimeout: () => this.#slowConsumer(`took nothing for ${options.writeTimeoutMs / 1000} s`),
      onError: (error) => this.#abort(`write failed: ${describeError(error)}`),
    });
  }

  /** Bytes waiting to be written to this client. */
  get pendingBytes(): number {
    return this.#writer.pendingBytes;
  }

  /**
   * Runs the session: register timer, then reads until the client goes.
   *
   * @param initial bytes the client sent right after its request head (already read)
   * @returns when the session is torn down
   */
  async run(initial: Uint8Array): Promise<void> {
    try {
      this.#conn.setNoDelay(true);
      this.#conn.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the read below finds out.
    }
    const { router, registerTimeoutMs } = this.#options;
    logger.info("WebSocket connection from {peer}", { peer: this.peer });
    this.#registerTimer = setTimeout(() => {
      this.#registerTimer = undefined;
      if (!router.isRegistered(this)) router.expire(this, registerTimeoutMs / 1000);
    }, registerTimeoutMs);
    if (initial.length > 0) this.#take(initial);
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (!this.#gone) {
        const n = await this.#conn.read(buffer);
        if (n === null) {
          this.#abort("peer closed the connection");
          break;
        }
        if (!this.#closing) this.#take(buffer.subarray(0, n));
        else if (this.#decoder.push(buffer.subarray(0, n)).some((e) => e.kind === "close")) this.#teardown();
      }
    } catch (error) {
      if (!this.#gone && !this.#closing) this.#abort(`read failed: ${describeError(error)}`);
      else this.#teardown();
    }
    await this.done;
  }

  /** Sends a packet as one binary message; a client too far behind is cut off. */
  send(packet: OutgoingPacket): void {
    if (this.#closing) return;
    const bytes = packet.packet;
    // Copied into the outbox during the call: the bytes may be a reused read buffer.
    this.#writer.push(frameHeader(OPCODE.binary, bytes.length), bytes);
  }

  /** Closes after what is queued (a WebSocket close follows the data already sent). */
  close(reason: string): void {
    this.#closeWith(CLOSE_CODE.normal, reason);
  }

  /** The memory budget cut this client off: drop everything, close at once. */
  shed(reason: string): void {
    if (this.#gone) return;
    logger.warn("Cutting off {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    this.#closing = true;
    this.#teardown();
  }

  /** Feeds bytes from the socket to the decoder and handles what it completed. */
  #take(chunk: Uint8Array): void {
    const events = this.#decoder.push(chunk);
    const held = this.#decoder.heldBytes;
    if (held !== this.#decoderCharged) {
      const ok = this.#options.budget.charge(this, held - this.#decoderCharged);
      if (!ok) {
        this.#options.router.sendError(
          this,
          new ProtocolError(
            "server_busy",
            "The router's memory is full; the message being received was dropped and the connection is closed",
            "",
          ),
        );
        this.#closeWith(CLOSE_CODE.goingAway, "server_busy");
        return;
      }
      this.#decoderCharged = held;
    }
    for (const event of events) {
      if (this.#closing) return;
      try {
        this.#handle(event);
      } catch (error) {
        // Nothing one client sends may end the router: this client goes, with a log line.
        logger.error("Error while handling a message from {peer} ({who}); closing it: {error}", {
          peer: this.peer,
          who: this.#who(),
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
        this.#closeWith(CLOSE_CODE.internalError, "internal error");
      }
    }
  }

  #handle(event: ReturnType<WebSocketDecoder["push"]>[number]): void {
    const { router, maxPacketBytes } = this.#options;
    switch (event.kind) {
      case "message":
        if (!event.binary) {
          router.sendError(
            this,
            new ProtocolError("malformed_packet", "Send each OSC packet as one binary WebSocket message, not text", ""),
          );
          return;
        }
        router.receive(this, event.data);
        return;
      case "too_large":
        router.sendError(
          this,
          new ProtocolError(
            "packet_too_large",
            `Message of ${event.announcedBytes} bytes is larger than the limit of ${maxPacketBytes} bytes; the connection is closed`,
            "",
          ),
        );
        this.#closeWith(CLOSE_CODE.messageTooBig, "packet_too_large");
        return;
      case "protocol_error":
        logger.info("WebSocket protocol error from {peer}: {reason}", { peer: this.peer, reason: event.reason });
        this.#closeWith(CLOSE_CODE.protocolError, event.reason);
        return;
      case "ping":
        this.#writer.push(frameHeader(OPCODE.pong, event.data.length), event.data);
        return;
      case "pong":
        return;
      case "close":
        // Answer with the same code; the client then ends the connection (or the timer does).
        this.#closeWith(event.code ?? CLOSE_CODE.normal, "peer closed the connection", event.code === undefined);
        return;
    }
  }

  /** Queues a close frame after what is queued, flushes for at most a second, closes. */
  #closeWith(code: number, reason: string, emptyPayload = false): void {
    if (this.#closing) return;
    this.#closing = true;
    logger.info("Closing {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    const payload = emptyPayload ? new Uint8Array(0) : closePayload(code, reason);
    this.#writer.push(frameHeader(OPCODE.close, payload.length), payload);
    this.#closeTimer = setTimeout(() => this.#teardown(), CLOSE_FLUSH_MS);
    // Then end our side (FIN, not RST: the client reads the close frame) and wait for the
    // client's close frame or its end of stream, at most CLOSE_FLUSH_MS in all.
    this.#writer.drained().then(() => {
      if (this.#gone) return;
      this.#conn.closeWrite().catch(() => this.#teardown());
    });
  }

  #slowConsumer(why: string): void {
    if (this.#gone) return;
    this.#options.onSlowConsumer();
    this.#options.router.events.record({
      kind: "slow_consumer",
      who: this.#options.router.describe(this),
      address: this.peer,
      reason: why,
    });
    logger.warn("Slow consumer {peer} ({who}): {why}; closing it", { peer: this.peer, who: this.#who(), why });
    this.#abort("slow consumer");
  }

  #abort(reason: string): void {
    if (!this.#closing) {
      this.#closing = true;
      logger.info("Closing {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    }
    this.#teardown();
  }

  #who(): string {
    return this.#options.router.describe(this) ?? "not registered";
  }

  #teardown(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#closing = true;
    clearTimeout(this.#registerTimer);
    clearTimeout(this.#closeTimer);
    this.#writer.stop(); // also gives this session's bytes back to the budget
    this.#options.budget.release(this);
    this.#options.router.leave(this);
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#options.onClosed(this);
    // A write in flight ends (rejects) once the socket is closed; wait for it so no op outlives us.
    this.#writer.drained().then(this.#resolveDone);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
