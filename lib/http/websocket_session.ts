/**
 * A router session over WebSocket: one binary message is one OSC packet. The WebSocket protocol
 * is the `ws` package's, with `maxPayload` set to `--max-packet-bytes`: a message over it is
 * refused from its frame header (or, fragmented, from the header that passes the limit), before
 * any of it is buffered.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Socket } from "node:net";
// @ts-types="npm:@types/ws@^8.18.1"
import type { WebSocket } from "ws";
import { concatBytes } from "../framing/concat.ts";
import type { OutgoingPacket } from "../framing/outgoing.ts";
import type { BudgetHolder, MemoryBudget } from "../limits/memory_budget.ts";
import { ProtocolError } from "../protocol/error_code.ts";
import type { Router } from "../router/router.ts";
import type { Session } from "../router/session.ts";
import { ClientWriter } from "./client_writer.ts";
import { webSocketHeaderBytes, writeWebSocketHeader } from "./websocket_frame.ts";
import { errorStack } from "../util/error_text.ts";

const logger = getLogger(["tcposcrouter", "websocket"]);

/**
 * What one read kept by ws costs beside its bytes (measured on Deno 2.9.6: 50 clients trickling
 * 2,000 one-byte reads each cost 62 MiB), charged to the budget with the bytes.
 */
const READ_OVERHEAD_BYTES = 640;

/** `WebSocket.OPEN`: frames are written only then (ws has not started or answered a close). */
const OPEN = 1;

/**
 * Frames are built into chunks of up to this size (a larger packet gets a chunk of its own): one
 * allocation per chunk of frames, not one per packet. A chunk is let go once full; the socket
 * holds the written parts until they are sent. A new chunk is four times the last write, at least
 * `MIN_CHUNK_BYTES`: a browser at a musical rate holds a few hundred bytes, one in a firehose 16 KiB.
 */
const MAX_CHUNK_BYTES = 16 * 1024;
const MIN_CHUNK_BYTES = 256;

/** Close codes the router sends. */
const CLOSE_CODE = { normal: 1000, goingAway: 1001, internalError: 1011 } as const;

/** Settings a WebSocket session needs. */
export interface WebSocketSessionOptions {
  /** The router the session joins. */
  router: Router;
  /** The router's memory budget: queued and partly received bytes are charged to it. */
  budget: MemoryBudget;
  /** Largest packet accepted. */
  maxPacketBytes: number;
  /** Bytes that may wait for this client before it is cut off as a slow consumer. */
  maxQueueBytes: number;
  /** Closes a session that has not registered within this time. */
  registerTimeoutMs: number;
  /** A client that takes no byte for this long while bytes wait for it is cut off. */
  writeTimeoutMs: number;
  /** Called once the session has closed. */
  onClosed: (session: WebSocketSession) => void;
  /** Called when the session is cut off as a slow consumer. */
  onSlowConsumer: () => void;
}

/**
 * What the session reads of `ws`'s receiver (ws 8, not written to): the `error` event before the
 * WebSocket reacts to it (so that `packet_too_large` goes out before the close frame), the length
 * the refused message announced, and the bytes and reads of an unfinished message (charged to the budget).
 * Should a later ws move them, the figures read as 0 and the error loses its size: the tests in
 * tests/http fail then.
 */
interface ReceiverView {
  prependListener(event: "error", listener: (error: Error & { code?: string }) => void): unknown;
  _bufferedBytes?: number;
  _buffers?: unknown[];
  _totalPayloadLength?: number;
  _fragments?: Uint8Array[];
}

function receiverOf(ws: WebSocket): ReceiverView | undefined {
  const receiver = (ws as unknown as { _receiver?: ReceiverView })._receiver;
  return typeof receiver?.prependListener === "function" ? receiver : undefined;
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
  #ws: WebSocket;
  #socket: Socket;
  #receiver: ReceiverView | undefined;
  #options: WebSocketSessionOptions;
  #writer: ClientWriter;
  /** What the unfinished incoming message was last charged at. */
  #receivingCharged = 0;
  #closing = false;
  #gone = false;
  /** Where frames are built; `#chunkStart` to `#chunkUsed` are queued, written together by `#flush`. */
  #chunk: Uint8Array | undefined;
  #chunkStart = 0;
  #chunkUsed = 0;
  /** The size of the last write, which sizes the next chunk. */
  #lastWriteBytes = 0;
  /** The writer's callbacks for the queued frames. */
  #frameDone: ((error?: Error | null) => void)[] = [];
  #flushScheduled = false;
  #registerTimer: ReturnType<typeof setTimeout> | undefined;
  #pauseTimer: ReturnType<typeof setTimeout> | undefined;
  #socketClosed: Promise<void>;
  /** Settles when the session is fully torn down. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  /**
   * A session on a just-opened WebSocket.
   *
   * @param ws the WebSocket, just opened by `WebSocketServer.handleUpgrade`
   * @param socket its TCP socket
   * @param peer the client's address, for logs
   * @param address the client's address key (see `addressKey`)
   * @param options shared settings
   */
  constructor(ws: WebSocket, socket: Socket, peer: string, address: string, options: WebSocketSessionOptions) {
    this.#ws = ws;
    this.#socket = socket;
    this.#receiver = receiverOf(ws);
    this.peer = peer;
    this.address = address;
    this.#options = options;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#socketClosed = new Promise((resolve) => socket.once("close", () => resolve()));
    this.#writer = new ClientWriter(
      { write: (packet, done) => this.#queueFrame(packet, done), copies: true },
      this,
      {
        budget: options.budget,
        maxQueueBytes: options.maxQueueBytes,
        writeTimeoutMs: options.writeTimeoutMs,
        onOverflow: () => this.#slowConsumer(`more than ${options.maxQueueBytes} bytes pending`),
        onWriteTimeout: () => this.#slowConsumer(`took nothing for ${options.writeTimeoutMs / 1000} s`),
      },
    );
  }

  /** Bytes waiting to be written to this client. */
  get pendingBytes(): number {
    return this.#writer.pendingBytes;
  }

  /**
   * Runs the session: register timer, then messages until the client goes.
   *
   * @returns when the session is torn down
   */
  run(): Promise<void> {
    const { router, registerTimeoutMs } = this.#options;
    const ws = this.#ws;
    try {
      this.#socket.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the close event says so.
    }
    logger.info("WebSocket connection from {peer}", { peer: this.peer });
    this.#registerTimer = setTimeout(() => {
      this.#registerTimer = undefined;
      if (!router.isRegistered(this)) router.expire(this, registerTimeoutMs / 1000);
    }, registerTimeoutMs);
    this.#receiver?.prependListener("error", (error) => this.#receiveError(error));
    ws.on("error", (error) => logger.debug("WebSocket error from {peer}: {error}", { peer: this.peer, error }));
    ws.on("message", (data, isBinary) => this.#message(data, isBinary));
    ws.on("close", (code) => this.#teardown(`connection closed (${code})`));
    // After ws's own listener: what its receiver holds of an unfinished message is charged.
    this.#socket.on("data", () => this.#chargeReceiving());
    return this.done;
  }

  /** Sends a packet as one binary message; a client too far behind is cut off. */
  send(packet: OutgoingPacket): void {
    if (this.#closing) return;
    // Copied into this session's chunk during the call: the bytes may be a reused read buffer.
    this.#writer.push(packet.packet);
  }

  /**
   * Frames a packet into the chunk; what is queued in this turn goes to the socket in one write
   * (`ws.send` writes each message on its own, header and payload apart). ws's own frames (pong,
   * close) go straight to the same socket: they are whole frames too, and `#closeWith` flushes first.
   */
  #queueFrame(packet: Uint8Array, done: (error?: Error | null) => void): void {
    const header = webSocketHeaderBytes(packet.length);
    const frameBytes = header + packet.length;
    if (this.#chunk === undefined || this.#chunkUsed + frameBytes > this.#chunk.length) {
      this.#flush(); // what the full chunk holds goes first
      const chunkBytes = Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, 4 * this.#lastWriteBytes));
      this.#chunk = new Uint8Array(Math.max(chunkBytes, frameBytes));
      this.#chunkStart = this.#chunkUsed = 0;
    }
    const chunk = this.#chunk;
    writeWebSocketHeader(chunk, this.#chunkUsed, packet.length);
    chunk.set(packet, this.#chunkUsed + header);
    this.#chunkUsed += frameBytes;
    this.#frameDone.push(done);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Writes the queued frames in one write (a no-op when none are queued). */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#chunk === undefined || this.#chunkUsed === this.#chunkStart) return;
    // The socket keeps this view until it is sent: the chunk's later frames go after it, never over it.
    const bytes = this.#chunk.subarray(this.#chunkStart, this.#chunkUsed);
    this.#chunkStart = this.#chunkUsed;
    this.#lastWriteBytes = bytes.length;
    const dones = this.#frameDone;
    this.#frameDone = [];
    const settle = (error?: Error | null) => {
      for (const done of dones) done(error);
    };
    // Closing or closed (ws answered a close, or the session was torn down): nothing more goes out.
    if (this.#gone || this.#ws.readyState !== OPEN) return settle(new Error("WebSocket is not open"));
    try {
      this.#socket.write(bytes, settle);
    } catch (error) {
      settle(error as Error);
    }
  }

  /** Closes after what is queued (a WebSocket close follows the data already sent). */
  close(reason: string): void {
    this.#closeWith(CLOSE_CODE.normal, reason);
  }

  /** The memory budget cut this client off: drop everything, close at once. */
  shed(reason: string): void {
    if (this.#gone) return;
    logger.warn("Cutting off {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    this.#teardown(reason);
  }

  #message(data: unknown, isBinary: boolean): void {
    if (this.#closing) return;
    const { router } = this.#options;
    try {
      if (!isBinary) {
        router.sendError(
          this,
          new ProtocolError("malformed_packet", "Send each OSC packet as one binary WebSocket message, not text", ""),
        );
        return;
      }
      router.receive(this, toBytes(data));
    } catch (error) {
      // Nothing one client sends may end the router: this client goes, with a log line.
      logger.error("Error while handling a message from {peer} ({who}); closing it: {error}", {
        peer: this.peer,
        who: this.#who(),
        error: errorStack(error),
      });
      this.#closeWith(CLOSE_CODE.internalError, "internal error");
    } finally {
      this.#chargeReceiving();
    }
  }

  /** ws refused what the client sent; ws closes the connection right after this (1009 or 1002). */
  #receiveError(error: Error & { code?: string }): void {
    if (this.#closing) return;
    if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
      const announced = this.#receiver?._totalPayloadLength;
      const size = typeof announced === "number" && announced > 0 ? `of ${announced} bytes ` : "";
      this.#options.router.sendError(
        this,
        new ProtocolError(
          "packet_too_large",
          `Message ${size}is larger than the limit of ${this.#options.maxPacketBytes} bytes; the connection is closed`,
          "",
        ),
      );
      logger.info("Closing {peer} ({who}): packet_too_large", { peer: this.peer, who: this.#who() });
    } else {
      logger.info("WebSocket protocol error from {peer}: {reason}", { peer: this.peer, reason: error.message });
    }
    this.#flush(); // the error goes before ws's close frame
    this.#closing = true;
    // ws now lets the socket flow to wait for the client's close frame, dropping what it reads: a
    // client may be sending 63 MiB. Read nothing more; the close timeout ends the connection.
    this.#pauseTimer = setTimeout(() => this.#socket.pause(), 0);
  }

  /** Charges the budget with what ws holds of the message being received. */
  #chargeReceiving(): void {
    if (this.#gone || this.#receiver === undefined) return;
    const reads = this.#receiver._buffers?.length ?? 0;
    let held = (this.#receiver._bufferedBytes ?? 0) + reads * READ_OVERHEAD_BYTES;
    for (const fragment of this.#receiver._fragments ?? []) held += fragment.length;
    if (held === this.#receivingCharged) return;
    if (!this.#options.budget.charge(this, held - this.#receivingCharged)) {
      if (this.#closing) return;
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
    this.#receivingCharged = held;
  }

  /** A close frame after what is queued; ws ends the connection once the client answers (or after 1 s). */
  #closeWith(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    logger.info("Closing {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    this.#flush(); // what is queued goes before the close frame
    try {
      this.#ws.close(code, new TextEncoder().encode(reason).length <= 123 ? reason : reason.slice(0, 40));
    } catch {
      this.#teardown(reason);
    }
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
    this.#teardown("slow consumer");
  }

  #who(): string {
    return this.#options.router.describe(this) ?? "not registered";
  }

  #teardown(reason: string): void {
    if (this.#gone) return;
    if (!this.#closing) logger.info("Closing {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    this.#gone = true;
    this.#closing = true;
    clearTimeout(this.#registerTimer);
    clearTimeout(this.#pauseTimer);
    this.#writer.stop(); // also gives this session's bytes back to the budget
    this.#options.budget.release(this);
    this.#options.router.leave(this);
    this.#ws.terminate(); // at once; a no-op when ws has closed already
    this.#options.onClosed(this);
    this.#socketClosed.then(this.#resolveDone);
  }
}

/** ws hands binary messages over as a Buffer (or, fragmented, as Buffers to join). */
function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) {
    const parts = data as Uint8Array[];
    let total = 0;
    for (const p of parts) total += p.length;
    return concatBytes(parts, total);
  }
  return new Uint8Array(data as ArrayBuffer);
}
