/**
 * One client connection: reads, deframes and hands packets to the router; writes
 * through a bounded outbox. Everything it holds for its client (a partial packet, its
 * queue) is charged to the server's memory budget.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createDecoder } from "../framing/by_framing.ts";
import { detectFraming, type Framing } from "../framing/detect.ts";
import type { Deframed } from "../framing/errors.ts";
import type { LengthPrefixDecoder } from "../framing/length_prefix.ts";
import type { OutgoingPacket } from "../framing/outgoing.ts";
import { readDeframed } from "../framing/read_deframed.ts";
import type { SlipDecoder } from "../framing/slip.ts";
import type { BudgetHolder, MemoryBudget } from "../limits/memory_budget.ts";
import { ProtocolError } from "../protocol/error_code.ts";
import type { Router } from "../router/router.ts";
import type { Session } from "../router/session.ts";
import { WarningLimiter } from "../util/warning_limiter.ts";
import { addressKey, formatPeer } from "../net/address.ts";
import type { ChunkPool } from "./chunk_pool.ts";
import { Outbox, type OverflowCause, queuedBytesTotal, SHARED_FRAME_MAX_BYTES } from "./outbox.ts";
import { errorMessage, errorStack } from "../util/error_text.ts";
import { TokenBucket } from "../util/token_bucket.ts";

const logger = getLogger(["tcposcrouter", "connection"]);

/**
 * Size of a connection's first read buffer (reused for every read). Small, since every open
 * connection holds one outside the memory budget (1,000 connections: 16 MiB, not 64).
 */
const READ_BUFFER_BYTES = 16 * 1024;
/**
 * A connection whose read fills its buffer (a client sending in bulk) reads into one of this size
 * from then on: four times fewer reads for the same bytes, each costing an op, a promise and the
 * garbage they leave (a 16 KiB buffer under a 500 MB/s flood grew V8's heap by 50 MiB).
 */
const BULK_READ_BUFFER_BYTES = 64 * 1024;
/**
 * Most connections reading into a bulk buffer at once, over the process. Every connection whose
 * read is ready is served in the same turn of the event loop: 250 clients uploading at once, each
 * with a 64 KiB buffer, put 16 MiB of copying in one turn (loop stalls of 30-76 ms, a well-behaved
 * pair's p99 87 ms in the hostile suite); with 16 KiB buffers for all but these few, 4 MiB.
 */
const MAX_BULK_READERS = 8;
let bulkReaders = 0;
/**
 * Most bytes a second one connection's packets may queue for others (after a burst of
 * `DELIVERY_BURST_BYTES`): beyond it, its next read waits. The read rate alone let
 * a sender in a group of 250 members that stopped reading queue 250 times 32 MiB/s: 1 GB went
 * into the members' socket buffers in the first seconds, and the completions of those writes
 * starved every other connection's reads: a pair in another group waited 200-600 ms for the
 * router to read what it sent, with the loop's timers on time. 128 MiB/s is above what the native
 * harness's 1 -> 10 flat-out scenario delivers on this machine (3.08 M deliveries/s of 36 bytes).
 */
const DELIVERY_RATE_BYTES_PER_SECOND = 128 * 1024 * 1024;
const DELIVERY_BURST_BYTES = 1024 * 1024;
/**
 * Most bytes a second read into large partial packets (over `LARGE_PARTIAL_BYTES` gathered), over
 * the whole process, after a burst of `LARGE_PARTIAL_BURST_BYTES`: 250 clients uploading 1 MiB
 * packets at once each had a read ready on every turn, and the pair in another group waited
 * 40-90 ms for its own reads to be served. Whoever goes over it waits its turn: each reservation
 * takes its bytes from the one bucket, so the uploads share the rate and their reads are spread out.
 */
const LARGE_PARTIAL_RATE_BYTES_PER_SECOND = 32 * 1024 * 1024;
const LARGE_PARTIAL_BURST_BYTES = 4 * 1024 * 1024;
const LARGE_PARTIAL_BYTES = 64 * 1024;
const largePartials = new TokenBucket(LARGE_PARTIAL_RATE_BYTES_PER_SECOND, LARGE_PARTIAL_BURST_BYTES);
/**
 * Longest a connection may run the router on what it sent before it lets the event loop serve
 * everyone else (ms): a sender whose every packet goes to hundreds of members (or is a bundle of
 * many) must not hold the loop, and the other groups' packets, for longer than this at a time.
 */
const SLICE_MS = 4;
/**
 * Most bytes a second one connection is read at, after a burst of `READ_BURST_BYTES`: beyond
 * it, the router reads that client no faster (TCP pushes back on the sender). 32 MiB/s is three
 * times what one client sending as fast as it can (the load benchmark's 260,000 small messages a
 * second) needs, while a flood of 500 MB/s kept the router at 90 % of a core and every other
 * client waited for the CPU.
 */
const READ_RATE_BYTES_PER_SECOND = 32 * 1024 * 1024;
const READ_BURST_BYTES = 4 * 1024 * 1024;
/** How long a closing connection may take to flush what it has queued. */
const CLOSE_FLUSH_MS = 1000;

/** Settings a connection needs. */
export interface ConnectionOptions {
  /** The router the connection feeds. */
  router: Router;
  /** The framing of the port the connection arrived on. */
  portFraming: Framing;
  /** Take the framing from the first byte (default) or insist on the port's. */
  strictFraming: boolean;
  /** Largest packet accepted. */
  maxPacketBytes: number;
  /** Bytes that may wait for this client before it is cut off. */
  maxQueueBytes: number;
  /** Closes a connection that has not registered within this time. */
  registerTimeoutMs: number;
  /** Rate limit shared by all connections for warnings about bad input. */
  warnings: WarningLimiter;
  /** Called once when the connection is gone. */
  onClosed: (connection: Connection) => void;
  /** Called when the connection is cut off as a slow consumer (queue bound, budget or write deadline). */
  onSlowConsumer: () => void;
  /** The budget its partial packet and its queue are charged to (none: unaccounted). */
  budget?: MemoryBudget;
  /** Where its outbox takes chunks from (default: the process's shared pool). */
  pool?: ChunkPool;
  /** Cut off when queued bytes make no progress for this long (ms); 0 never. */
  writeTimeoutMs?: number;
  /** Close a connection that has pinged once and then sent nothing for this long (ms); 0 never. */
  pingTimeoutMs?: number;
}

/**
 * A TCP client of the router. Implements the router's `Session`, and the budget's
 * `BudgetHolder`: when the budget cuts it, it is aborted at once.
 */
export class Connection implements Session, BudgetHolder {
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
  /** When the last bytes arrived (`performance.now()`). */
  #lastReadAt = performance.now();
  /**
   * Only the error before a fatal close is left to send: its memory is taken only if it fits as
   * things are, never by cutting another client (when the budget is full, the error is not sent).
   */
  #lastWords = false;
  /** Chosen from the first byte. */
  #decoder: LengthPrefixDecoder | SlipDecoder | undefined;
  /** Bytes this connection may still be read before it is paused (the rate limit's bucket). */
  #reads = new TokenBucket(READ_RATE_BYTES_PER_SECOND, READ_BURST_BYTES);
  /** Bytes this connection's packets may still queue for others before it is paused. */
  #deliveries = new TokenBucket(DELIVERY_RATE_BYTES_PER_SECOND, DELIVERY_BURST_BYTES);
  /** Ends a pause of the read loop early (teardown). */
  #endPause: (() => void) | undefined;
  /** This connection reads into a bulk buffer (counted in `bulkReaders` until it is gone). */
  #bulk = false;
  /** The client has sent /oscrouter/ping: it is expected to keep sending. */
  #pinging = false;
  /** Settles when the connection is fully torn down. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  /** Charges the budget for this connection; never after it is gone. */
  readonly #grant: (deltaBytes: number) => boolean;

  /**
   * A connection on an accepted socket.
   *
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
    const budget = options.budget;
    this.#grant = budget === undefined
      ? () => true
      : (delta) =>
        delta < 0
          ? budget.charge(this, delta)
          : !this.#closing && (this.#lastWords ? budget.tryCharge(this, delta) : budget.charge(this, delta));
    this.#outbox = new Outbox(conn, {
      maxQueueBytes: options.maxQueueBytes,
      onOverflow: (cause) => this.#slowConsumer(cause),
      onError: (error) => this.#abort(`write failed: ${errorMessage(error)}`),
      grant: this.#grant,
      ...(options.pool ? { pool: options.pool } : {}),
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
    try {
      if (this.#framing === "slip") this.#outbox.pushShared(packet.frame("slip"));
      // Idle (a lone message): the packet's shared frame is written as it is, built once for all
      // its recipients; in a burst, the size and packet are copied into the queue's chunks.
      else if (this.#outbox.idle && packet.packet.length < SHARED_FRAME_MAX_BYTES) {
        this.#outbox.pushShared(packet.frame("length-prefix"));
      } else this.#outbox.pushLengthPrefixed(packet.packet);
    } catch (error) {
      // Never let a failure here reach the sender whose packet this is.
      this.#failed("sending to", error);
    }
  }

  /** The client sent /oscrouter/ping: from now on, a silence longer than the ping timeout closes it. */
  markPinging(): void {
    this.#pinging = true;
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
   * The memory budget took back what this connection held: abort it at once (no flush). The
   * teardown (leaving the router, which tells the group) runs after the budget's charge returns.
   *
   * @param reason why, for the log
   */
  shed(reason: string): void {
    if (this.#gone) return;
    const wasClosing = this.#closing;
    this.#closing = true;
    this.#outbox.stop();
    if (!wasClosing && this.#options.warnings.take() >= 0) {
      logger.warn("Cutting off {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason });
    }
    queueMicrotask(() => this.#abort(`cut off by the memory budget: ${reason}`));
  }

  /**
   * Applies the deadlines: a queue that made no progress for the write timeout (a client that
   * stopped reading, or a dead peer with data pending) is cut off as a slow consumer; a client
   * that pinged and then went silent for the ping timeout is closed with `idle_timeout`.
   *
   * @param nowMs the time now (`performance.now()`)
   */
  checkDeadlines(nowMs: number): void {
    if (this.#closing) return;
    const { writeTimeoutMs = 0, pingTimeoutMs = 0 } = this.#options;
    if (writeTimeoutMs > 0 && this.#outbox.stalledMs(nowMs) >= writeTimeoutMs) {
      this.#slowConsumer("deadline");
    } else if (pingTimeoutMs > 0 && this.#pinging && nowMs - this.#lastReadAt >= pingTimeoutMs) {
      const seconds = pingTimeoutMs / 1000;
      this.#options.router.sendError(
        this,
        new ProtocolError(
          "idle_timeout",
          `Nothing received for ${seconds} s after /oscrouter/ping; the connection is closed; reconnect and register again`,
          "",
        ),
      );
      this.close(`idle_timeout: nothing received for ${seconds} s from a client that pings`);
    }
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
      try {
        if (!router.isRegistered(this)) router.expire(this, registerTimeoutMs / 1000);
      } catch (error) {
        this.#failed("expiring", error);
      }
    }, registerTimeoutMs);
    logger.info("Connection from {peer} on the {framing} port", { peer: this.peer, framing: this.#framing });
    await this.#readLoop();
    await this.done;
  }

  /**
   * Reads through `readDeframed` (`conn.read` into one reused buffer, the decoder core) until
   * the client goes, the connection closes, or a handler fails. Not through `conn.readable` and
   * a `DeframerStream`: measured on 100 loopback connections, a BYOB reader costs about 10 µs more
   * CPU per read and the stream hop 10-17 µs more again, 40 % of a core at 1,000 connections
   * sending 20 messages a second each (see DESIGN.md, Reads).
   */
  async #readLoop(): Promise<void> {
    let end: "ended" | "stopped";
    try {
      end = await readDeframed(this.#conn, (firstByte) => this.#pickDecoder(firstByte), this.#onBatch, {
        bufferBytes: READ_BUFFER_BYTES,
        bulkBufferBytes: BULK_READ_BUFFER_BYTES,
        mayGrow: () => {
          // Not for a sender whose packets went to so many that the delivery rate holds it back: one
          // 64 KiB read of 1 KiB packets to 250 members is 16 MiB of copies and 250 writes at once.
          if (this.#closing || this.#bulk || bulkReaders >= MAX_BULK_READERS || this.#deliveries.tokens < 0) {
            return false;
          }
          this.#bulk = true;
          bulkReaders++;
          return true;
        },
      });
    } catch (error) {
      if (this.#handling) {
        // A bug must cost this client its connection, never the router its process.
        this.#failed("handling a packet from", error);
      } else if (!this.#gone) {
        this.#abort(`read failed: ${errorMessage(error)}`);
      }
      return;
    }
    if (end === "ended" && !this.#closing) this.#abort("peer closed the connection");
  }

  /** The handler of each read's packets is running (an exception there is a bug, not a read error). */
  #handling = false;

  /**
   * What one read deframed: handled in order, yielding the event loop every `SLICE_MS`; then the
   * read rate. Returns a plain boolean (no promise) unless it has to pause.
   */
  readonly #onBatch = (batch: readonly Deframed[], n: number): boolean | Promise<boolean> => {
    if (this.#closing) return false;
    const now = performance.now();
    if (n > 0) this.#lastReadAt = now;
    this.#handling = true;
    // What this read's packets queue for others (the delivery rate): nothing else runs until the loop ends.
    const queuedBefore = queuedBytesTotal();
    for (let i = 0; i < batch.length && !this.#closing; i++) {
      this.#handle(batch[i]!);
      // The clock is read every 8 packets: a read per packet cost 5 % of the router's time flat out.
      if ((i & 7) === 7 && i + 1 < batch.length && performance.now() - now >= SLICE_MS) {
        this.#handling = false;
        this.#deliveries.spend(queuedBytesTotal() - queuedBefore);
        return this.#handleSlowly(batch, i + 1, n);
      }
    }
    this.#handling = false;
    this.#deliveries.spend(queuedBytesTotal() - queuedBefore);
    if (this.#closing) return false;
    const pause = this.#afterRead(n, now);
    return pause === undefined ? true : pause.then(() => !this.#closing);
  };

  /** The rest of a batch after a pause: a slice of at most `SLICE_MS` per turn of the event loop. */
  async #handleSlowly(batch: readonly Deframed[], from: number, n: number): Promise<boolean> {
    // Packets emitted are views of the read buffer or buffers of their own: nothing reads into
    // the buffer until they are all handled, so they stay valid across the pause.
    await yieldToEventLoop();
    let sliceStart = performance.now();
    for (let i = from; i < batch.length && !this.#closing; i++) {
      this.#handling = true;
      const queuedBefore = queuedBytesTotal();
      this.#handle(batch[i]!);
      this.#deliveries.spend(queuedBytesTotal() - queuedBefore);
      this.#handling = false;
      if ((i & 7) === 7 && i + 1 < batch.length && performance.now() - sliceStart >= SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
    if (this.#closing) return false;
    await this.#afterRead(n, performance.now());
    return !this.#closing;
  }

  /**
   * The rates a read is held to once its packets are handled (undefined: read on at once): this
   * client's read rate; the delivery rate of what its packets queued for others (after the whole
   * read, not per packet: a pause between packets would flush every outbox once per packet, 250
   * writes per 1 KiB packet, instead of once per read); the process's rate for large partial packets.
   */
  #afterRead(n: number, now: number): Promise<void> | undefined {
    const read = this.#throttle(n, now);
    const delivery = this.#deliveries.tokens < 0;
    const large = (this.#decoder?.pendingBytes ?? 0) > LARGE_PARTIAL_BYTES;
    if (!delivery && !large) return read;
    return (async () => {
      await read;
      if (delivery && !this.#closing) await this.#throttleDelivery();
      if (large && !this.#closing) await this.#throttleLargePartial(n);
    })();
  }

  /** Takes `n` bytes from the process's bucket for large partial packets; waits for them if it is short. */
  async #throttleLargePartial(n: number): Promise<void> {
    const waitMs = largePartials.take(n, performance.now());
    if (waitMs > 0) await this.#pause(waitMs);
  }

  /** Refills the delivery bucket; when it is still empty, waits until it has refilled to zero. */
  async #throttleDelivery(): Promise<void> {
    const waitMs = this.#deliveries.take(0, performance.now());
    if (waitMs > 0 && !this.#closing) await this.#pause(waitMs);
  }

  /**
   * Takes `n` bytes from the bucket; when it is empty, returns a wait until it has refilled to
   * zero (undefined: read on at once).
   */
  #throttle(n: number, now: number): Promise<void> | undefined {
    const waitMs = this.#reads.take(n, now);
    if (waitMs === 0 || this.#closing) return undefined;
    return this.#pause(waitMs);
  }

  /** Waits `waitMs`, or less if the connection is torn down meanwhile. */
  #pause(waitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.#endPause = undefined;
        resolve();
      };
      const timer = setTimeout(end, waitMs);
      this.#endPause = end;
    });
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
    return this.#decoder = createDecoder(detected, { maxPacketBytes, grant: this.#grant });
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
    // A partial packet refused by a full budget must not cut another client to make room for its error.
    if (item.fatal) this.#lastWords = true;
    router.sendError(this, new ProtocolError(item.code, `${item.message}; ${action}`, ""));
    if (item.fatal) this.close(`${item.code}: ${item.message}`);
  }

  #who(): string {
    try {
      return this.#options.router.describe(this) ?? "not registered";
    } catch {
      return "unknown";
    }
  }

  #slowConsumer(cause: OverflowCause | "deadline"): void {
    this.#options.onSlowConsumer();
    const why = cause === "queue"
      ? `more than ${this.#options.maxQueueBytes} bytes pending (--max-queue-bytes)`
      : cause === "budget"
      ? "the router's memory budget (--max-memory-bytes) is full and this client's queue is the largest"
      : `nothing it was sent could be written for ${(this.#options.writeTimeoutMs ?? 0) / 1000} s (--write-timeout)`;
    this.#options.router.events.record({
      kind: "slow_consumer",
      who: this.#options.router.describe(this),
      address: this.peer,
      reason: why,
    });
    if (this.#options.warnings.take() >= 0) {
      logger.warn("Slow consumer {peer} ({who}): {why}; closing it", { peer: this.peer, who: this.#who(), why });
    }
    // Closed now (nothing more is queued for it), torn down on the next turn of the event loop: this
    // often runs inside a send to a whole group, and leaving the group at once tells the rest of it,
    // whose own full queues then leave, each telling the rest: 53 members of a group cut in one
    // 52 ms turn (the hostile suite's partial frames). Deferred, the first send marks them all
    // closing and each later leave skips them.
    if (!this.#closing) {
      this.#closing = true;
      logger.info("Closing {peer} ({who}): {reason}", { peer: this.peer, who: this.#who(), reason: "slow consumer" });
    }
    this.#outbox.stop();
    setTimeout(() => this.#abort("slow consumer"), 0);
  }

  /** An unexpected exception: log it with its stack, close this connection, carry on. */
  #failed(doing: string, error: unknown): void {
    logger.error("Unexpected error while {doing} {peer} ({who}); closing that connection: {error}", {
      doing,
      peer: this.peer,
      who: this.#who(),
      error: errorStack(error),
    });
    this.#abort("internal error");
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
    if (this.#bulk) {
      this.#bulk = false;
      bulkReaders--;
    }
    clearTimeout(this.#registerTimer);
    this.#endPause?.();
    this.#outbox.stop();
    try {
      this.#options.router.leave(this);
    } catch (error) {
      logger.error("Unexpected error while {peer} left the router: {error}", {
        peer: this.peer,
        error: errorStack(error),
      });
    }
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    // A partial packet's memory goes back to the system now, not when V8 collects it.
    this.#decoder?.release();
    this.#options.budget?.release(this);
    this.#options.onClosed(this);
    // A write in flight ends (rejects) once the socket is closed; wait for it so no op outlives us.
    this.#outbox.drained().then(this.#resolveDone);
  }
}

/** Resolves after the event loop has served the I/O and timers that are ready (a macrotask, not a microtask). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
