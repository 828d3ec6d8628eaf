/**
 * One client connection: reads, deframes and hands packets to the router; writes
 * through a bounded outbox.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createDecoder } from "../framing/by_framing.ts";
import { detectFraming, type Framing } from "../framing/detect.ts";
import type { Deframed } from "../framing/errors.ts";
import type { LengthPrefixDecoder } from "../framing/length_prefix.ts";
import type { OutgoingPacket } from "../framing/outgoing.ts";
import type { SlipDecoder } from "../framing/slip.ts";
import { ProtocolError } from "../router/error_code.ts";
import type { Router } from "../router/router.ts";
import type { Session } from "../router/session.ts";
import { WarningLimiter } from "../router/warning_limiter.ts";
import { addressKey, formatPeerAddress } from "../net/address.ts";
import { Outbox } from "./outbox.ts";

const logger = getLogger(["tcposcrouter", "connection"]);

/** Size of each connection's read buffer (reused for every read). */
const READ_BUFFER_BYTES = 64 * 1024;
/** How long a closing connection may take to flush what it has queued. */
const CLOSE_FLUSH_MS = 1000;

/** Settings a connection needs. */
export interface ConnectionOptions {
  router: Router;
  /** The framing of the port the connection arrived on. */
  portFraming: Framing;
  /** Take the framing from the first byte (default) or insist on the port's. */
  strictFraming: boolean;
  maxPacketBytes: number;
  maxQueueBytes: number;
  registerTimeoutMs: number;
  /** Rate limit shared by all connections for warnings about bad input. */
  warnings: WarningLimiter;
  /** Called once when the connection is gone. */
  onClosed: (connection: Connection) => void;
  /** Called when the connection is cut off as a slow consumer. */
  onSlowConsumer: () => void;
}

/** Formats a peer address; IPv4 clients on a dual-stack socket appear as plain IPv4. */
export function formatPeer(addr: Deno.Addr): string {
  if (addr.transport !== "tcp") return addr.transport;
  return formatPeerAddress(addr.hostname, addr.port);
}

/**
 * A TCP client of the router. Implements the router's `Session`.
 */
export class Connection implements Session {
  readonly peer: string;
  readonly address: string;
  readonly connectedAt: number = Date.now();
  #conn: Deno.TcpConn;
  #options: ConnectionOptions;
  #framing: Framing;
  #outbox: Outbox;
  #closing = false;
  #gone = false;
  #registerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the connection is fully torn down. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  /**
   * @param conn an accepted TCP connection
   * @param options shared settings
   */
  constructor(conn: Deno.TcpConn, options: ConnectionOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#framing = options.portFraming;
    this.peer = formatPeer(conn.remoteAddr);
    this.address = addressKey(conn.remoteAddr.hostname);
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#outbox = new Outbox(conn, {
      maxQueueBytes: options.maxQueueBytes,
      onOverflow: () => this.#slowConsumer(),
      onError: (error) => this.#abort(`write failed: ${describeError(error)}`),
    });
  }

  /** The framing in use: the port's until the first byte says otherwise. */
  get framing(): Framing {
    return this.#framing;
  }

  /** Bytes waiting to be written to this client. */
  get pendingBytes(): number {
    return this.#outbox.pendingBytes;
  }

  /** Queues a packet in this connection's framing (copied into the outbox at once). */
  send(packet: OutgoingPacket): void {
    if (this.#closing) return;
    if (this.#framing === "length-prefix") this.#outbox.pushLengthPrefixed(packet.packet);
    else this.#outbox.push(packet.frame("slip"));
  }

  /** Flushes for at most one second, then closes. */
  close(reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    logger.info("Closing {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    const flushed = this.#outbox.drained();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_FLUSH_MS));
    Promise.race([flushed, timeout]).then(() => {
      clearTimeout(timer);
      this.#teardown();
    });
  }

  /**
   * Runs the connection until it closes: options, register timer, read loop.
   *
   * @returns when the connection is torn down
   */
  async run(): Promise<void> {
    try {
      this.#conn.setNoDelay(true);
      this.#conn.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the read below finds out.
    }
    const { registerTimeoutMs, router } = this.#options;
    this.#registerTimer = setTimeout(() => {
      this.#registerTimer = undefined;
      if (!router.isRegistered(this)) router.expire(this, registerTimeoutMs / 1000);
    }, registerTimeoutMs);
    logger.info("Connection from {peer} on the {framing} port", { peer: this.peer, framing: this.#framing });
    await this.#readLoop();
    await this.done;
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let decoder: LengthPrefixDecoder | SlipDecoder | undefined;
    const out: Deframed[] = [];
    try {
      while (!this.#closing) {
        const n = await this.#conn.read(buffer);
        if (n === null) {
          if (!this.#closing) this.#abort("peer closed the connection");
          break;
        }
        if (this.#closing) break;
        const chunk = buffer.subarray(0, n);
        decoder ??= this.#pickDecoder(chunk[0]!);
        if (decoder === undefined) break;
        decoder.push(chunk, out);
        for (let i = 0; i < out.length && !this.#closing; i++) this.#handle(out[i]!);
        out.length = 0;
      }
    } catch (error) {
      if (!this.#gone) this.#abort(`read failed: ${describeError(error)}`);
    }
  }

  #pickDecoder(firstByte: number): LengthPrefixDecoder | SlipDecoder | undefined {
    const { maxPacketBytes, portFraming, strictFraming } = this.#options;
    const detected = strictFraming ? portFraming : detectFraming(firstByte);
    if (detected === undefined) {
      const hint = portFraming === "slip"
        ? "this port expects SLIP (OSC 1.1) frames"
        : "this port expects packets preceded by their size (OSC 1.0)";
      this.#options.router.sendError(
        this,
        new ProtocolError(
          "bad_frame",
          `First byte 0x${firstByte.toString(16).padStart(2, "0")} starts no OSC framing; ${hint}`,
          "",
        ),
      );
      this.close("bad_frame: unknown framing");
      return undefined;
    }
    if (detected !== portFraming) {
      logger.info("{peer} uses {framing} framing on the {port} port; replies follow the client", {
        peer: this.peer,
        framing: detected,
        port: portFraming,
      });
    }
    this.#framing = detected;
    return createDecoder(detected, { maxPacketBytes });
  }

  #handle(item: Deframed): void {
    const { router } = this.#options;
    if (item instanceof Uint8Array) {
      router.receive(this, item);
      return;
    }
    if (this.#options.warnings.take() >= 0) {
      logger.warn("{code} from {peer} ({who}): {message}", {
        code: item.code,
        peer: this.peer,
        who: this.#who(),
        message: item.message,
      });
    }
    const action = item.fatal ? "the stream cannot be resynchronised, so the connection is closed" : "it was dropped";
    router.sendError(this, new ProtocolError(item.code, `${item.message}; ${action}`, ""));
    if (item.fatal) this.close(`${item.code}: ${item.message}`);
  }

  #who(): string {
    return this.#options.router.describe(this) ?? "not registered";
  }

  #slowConsumer(): void {
    this.#options.onSlowConsumer();
    this.#options.router.events.record({
      kind: "slow_consumer",
      who: this.#options.router.describe(this),
      address: this.peer,
      reason: `more than ${this.#options.maxQueueBytes} bytes pending`,
    });
    logger.warn("Slow consumer {peer} ({who}): more than {max} bytes pending; closing it", {
      peer: this.peer,
      who: this.#who(),
      max: this.#options.maxQueueBytes,
    });
    this.#abort("slow consumer");
  }

  /** Closes at once, without flushing. */
  #abort(reason: string): void {
    if (!this.#closing) {
      this.#closing = true;
      logger.info("Closing {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    }
    this.#outbox.stop();
    this.#teardown();
  }

  #teardown(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#closing = true;
    clearTimeout(this.#registerTimer);
    this.#outbox.stop();
    this.#options.router.leave(this);
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#options.onClosed(this);
    // A write in flight ends (rejects) once the socket is closed; wait for it so no op outlives us.
    this.#outbox.drained().then(this.#resolveDone);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
