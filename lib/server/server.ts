/**
 * The TCP server: one accept loop per enabled port, all sharing one router.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Framing } from "../framing/detect.ts";
import { encodeFrame } from "../framing/by_framing.ts";
import { ProtocolError } from "../protocol/error_code.ts";
import { errorPacket } from "../protocol/replies.ts";
import { Router } from "../router/router.ts";
import { WarningLimiter } from "../util/warning_limiter.ts";
import type { Session } from "../router/session.ts";
import { MemoryBudget } from "../limits/memory_budget.ts";
import { addressKey, formatPeer } from "../net/address.ts";
import { CHUNK_BYTES, ChunkPool } from "./chunk_pool.ts";
import { Connection } from "./connection.ts";
import { errorMessage, errorStack } from "../util/error_text.ts";

const logger = getLogger(["tcposcrouter", "server"]);

/** Server settings (the CLI's flags, in units). */
export interface ServerOptions {
  /** Interface to listen on; "::" is every interface, IPv4 and IPv6. */
  hostname: string;
  /** Port for OSC 1.0 length-prefix framing; undefined disables it; 0 picks a free port. */
  lengthPrefixPort: number | undefined;
  /** Port for OSC 1.1 SLIP framing; undefined disables it; 0 picks a free port. */
  slipPort: number | undefined;
  /** Largest packet accepted (`--max-packet-size`). */
  maxPacketBytes: number;
  /** Bytes that may wait for one client (`--max-queue-bytes`). */
  maxQueueBytes: number;
  /** Most connections at once (`--max-connections`). */
  maxConnections: number;
  /** Closes a connection that has not registered within this time (`--register-timeout`). */
  registerTimeoutMs: number;
  /** Each port speaks only its own framing (`--strict-framing`). */
  strictFraming: boolean;
  /** Everything clients together may make the router hold (partial frames, queues, WebSocket buffers). */
  maxMemoryBytes: number;
  /** A client whose queued bytes make no progress for this long is cut off as a slow consumer (ms). */
  writeTimeoutMs: number;
  /** Connections from one address (an IPv4 address, an IPv6 /64), registered or not. */
  maxConnectionsPerAddress: number;
  /** Connections from one address that have not registered yet. */
  maxUnregisteredPerAddress: number;
  /** A client that has sent /oscrouter/ping and then sends nothing for this long is closed (ms); 0 = off. */
  pingTimeoutMs: number;
}

/** Defaults of PROTOCOL.md section 6. */
export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  hostname: "::",
  lengthPrefixPort: 55555,
  slipPort: 55556,
  maxPacketBytes: 1024 * 1024,
  maxQueueBytes: 4 * 1024 * 1024,
  maxConnections: 256,
  registerTimeoutMs: 60_000,
  strictFraming: false,
  maxMemoryBytes: 256 * 1024 * 1024,
  writeTimeoutMs: 10_000,
  maxConnectionsPerAddress: 32,
  maxUnregisteredPerAddress: 8,
  pingTimeoutMs: 15_000,
};

/**
 * Free outbox chunks a server keeps for reuse, at most: all of its memory budget, within it.
 * Chunks of clients cut off go there and are taken again by the queues that grow, instead of
 * becoming garbage that the process holds until the next collection (a flood that fills the
 * budget with the queues of members who stop reading, then gets them cut: the whole budget).
 * The pool is spare memory: a charge that needs room takes it from the pool first, a chunk at a
 * time. Once the pool has not been drawn on for `POOL_IDLE_MS`, it is trimmed to a quarter of
 * the budget, so the memory of a past burst goes back.
 */
const POOL_BUDGET_SHARE = 1;
const POOL_IDLE_MS = 10_000;
const POOL_IDLE_SHARE = 4;
/** The first pause after a failed accept (out of file descriptors...); it doubles up to the max. */
const ACCEPT_BACKOFF_MIN_MS = 100;
const ACCEPT_BACKOFF_MAX_MS = 1000;
/** At most one log line per this interval for accept failures, and per address for refusals. */
const LOG_INTERVAL_MS = 10_000;

/** A port could not be opened. */
export class ListenError extends Error {
  /**
   * A port that could not be opened.
   *
   * @param port the port
   * @param framing the framing it was for
   * @param cause the system's error
   */
  constructor(readonly port: number, readonly framing: Framing, cause: unknown) {
    const flag = framing === "slip" ? "--osc11-port" : "--osc-port";
    const why = cause instanceof Deno.errors.AddrInUse
      ? `port ${port} is in use: is another router running? choose another with ${flag}`
      : cause instanceof Deno.errors.PermissionDenied
      ? `port ${port} needs privileges: choose one above 1023 with ${flag}`
      : `cannot listen on port ${port}: ${errorMessage(cause)}`;
    super(why, { cause });
    this.name = "ListenError";
  }
}

/**
 * Listens on `hostname`; "::" (every interface, IPv4 and IPv6) falls back to "0.0.0.0" on a
 * host without IPv6 (a Raspberry Pi booted with ipv6.disable=1, some containers).
 */
function listen(hostname: string, port: number): Deno.TcpListener {
  try {
    return Deno.listen({ hostname, port, transport: "tcp" });
  } catch (error) {
    const taken = error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied;
    if (hostname !== "::" || taken) throw error;
    logger.info("IPv6 is not available ({error}); listening on IPv4 only", { error: String(error) });
    return Deno.listen({ hostname: "0.0.0.0", port, transport: "tcp" });
  }
}

/** A listening port. */
export interface Listening {
  /** What the port speaks. */
  framing: Framing;
  /** The address listened on. */
  hostname: string;
  /** The port listened on. */
  port: number;
}

/**
 * The router's TCP server.
 *
 * @example Start on free ports, then stop
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_SERVER_OPTIONS, Server } from "./server.ts";
 * const server = Server.start({ ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1", lengthPrefixPort: 0, slipPort: 0 });
 * assert.equal(server.listening.length, 2);
 * await server.close();
 * ```
 */
export class Server {
  /** The router the connections feed. */
  readonly router: Router;
  /** The settings it was started with. */
  readonly options: ServerOptions;
  #listeners: { listener: Deno.TcpListener; framing: Framing }[] = [];
  #connections = new Set<Connection>();
  #loops: Promise<void>[] = [];
  #warnings = new WarningLimiter({ burst: 20, perSecond: 2 });
  #closing = false;
  #refusals = new Set<Promise<void>>();
  /** Connections refused because the server was full, or their address had too many. */
  refusedConnections = 0;
  /** Clients cut off because they fell behind: --max-queue-bytes, the memory budget or --write-timeout. */
  slowConsumers = 0;
  /** Failed accepts (e.g. out of file descriptors); each pauses accepting briefly. */
  acceptErrors = 0;
  /** Sessions on other transports (WebSocket) that count against --max-connections. */
  #externalSessions = new Set<Session>();
  /** Every session (TCP and other transports) by address key, for the per-address limits. */
  #byAddress = new Map<string, Set<Session>>();
  /** Per address: when a refusal was last logged, and how many since. */
  #refusalLog = new Map<string, { atMs: number; suppressed: number }>();
  #acceptLog = { atMs: -Infinity, suppressed: 0 };
  /** Pending pauses of the accept loops (cut short by close). */
  #pauses = new Set<() => void>();
  #deadlineTimer: ReturnType<typeof setInterval> | undefined;
  /** When the server started (ms since the epoch). */
  readonly startedAt: number = Date.now();
  /** The one budget for every byte clients make the router hold, on every transport. */
  readonly budget: MemoryBudget;
  /** Free outbox chunks, counted in the budget. */
  readonly #pool: ChunkPool;

  private constructor(options: ServerOptions, router: Router) {
    this.options = options;
    this.router = router;
    this.budget = new MemoryBudget(options.maxMemoryBytes);
    const maxFreeChunks = Math.floor(options.maxMemoryBytes / POOL_BUDGET_SHARE / CHUNK_BYTES);
    this.#pool = new ChunkPool({ maxFreeChunks, budget: this.budget });
  }

  /**
   * Opens every enabled port and starts accepting.
   *
   * @param options settings
   * @param router the routing state (a new one by default)
   * @returns the running server
   * @throws {ListenError} when a port cannot be opened (none stays open)
   */
  static start(options: ServerOptions, router: Router = new Router()): Server {
    const server = new Server(options, router);
    const ports: [number | undefined, Framing][] = [[options.lengthPrefixPort, "length-prefix"], [
      options.slipPort,
      "slip",
    ]];
    for (const [port, framing] of ports) {
      if (port === undefined) continue;
      try {
        server.#listeners.push({ listener: listen(options.hostname, port), framing });
      } catch (error) {
        for (const { listener } of server.#listeners) listener.close();
        throw new ListenError(port, framing, error);
      }
    }
    for (const entry of server.#listeners) server.#loops.push(server.#acceptLoop(entry.listener, entry.framing));
    const deadlines = [options.writeTimeoutMs, options.pingTimeoutMs].filter((ms) => ms > 0);
    if (deadlines.length > 0) {
      // Checked a few times per deadline, so each is met within about a quarter of itself.
      const everyMs = Math.max(25, Math.min(1000, Math.min(...deadlines) / 4));
      server.#deadlineTimer = setInterval(() => server.#checkDeadlines(), everyMs);
    }
    return server;
  }

  /** Where the server listens (ports resolved when 0 was asked). */
  get listening(): Listening[] {
    return this.#listeners.map(({ listener, framing }) => ({
      framing,
      hostname: listener.addr.hostname,
      port: listener.addr.port,
    }));
  }

  /** Open connections, registered or not, on every transport. */
  get connectionCount(): number {
    return this.#connections.size + this.#externalSessions.size;
  }

  /**
   * Open connections by how they carry packets.
   *
   * @returns counts for "length-prefix", "slip" and "websocket"
   */
  connectionsByFraming(): Record<"length-prefix" | "slip" | "websocket", number> {
    const counts = { "length-prefix": 0, slip: 0, websocket: this.#externalSessions.size };
    for (const c of this.#connections) counts[c.framing]++;
    return counts;
  }

  /**
   * Admits a session of another transport (WebSocket) under the connection limits: the total,
   * and the per-address ones.
   *
   * @param session the new session (its `address` is the per-address key)
   * @returns undefined when admitted; otherwise the error to send before closing it
   */
  admit(session: Session): ProtocolError | undefined {
    const refusal = this.#closing ? this.fullError() : this.#refusal(session.address, session.peer);
    if (refusal !== undefined) {
      this.refusedConnections++; // the error itself is counted when the caller sends it
      this.router.events.record({ kind: "refused", address: session.peer, reason: refusal.code });
      return refusal;
    }
    this.#externalSessions.add(session);
    this.#track(session);
    return undefined;
  }

  /**
   * The error a connection over --max-connections gets, on any transport.
   *
   * @returns the `server_full` error
   */
  fullError(): ProtocolError {
    return new ProtocolError(
      "server_full",
      `The router has its maximum of ${this.options.maxConnections} connections; try again later or ask the operator to raise --max-connections`,
      "",
    );
  }

  /**
   * A session admitted with `admit` is gone.
   *
   * @param session the session
   */
  release(session: Session): void {
    if (this.#externalSessions.delete(session)) this.#untrack(session);
  }

  /**
   * Every open connection, TCP first, then other transports (WebSocket), for the status page.
   *
   * @returns the sessions, registered or not
   */
  *sessions(): IterableIterator<Session> {
    yield* this.#connections;
    yield* this.#externalSessions;
  }

  /** Bytes queued to clients over all connections. */
  get pendingBytes(): number {
    let n = 0;
    for (const c of this.#connections) n += c.pendingBytes;
    return n;
  }

  /**
   * Connections open from one address, registered or not, on every transport.
   *
   * @param address an address key (`Session.address`)
   * @returns how many
   */
  connectionsFrom(address: string): number {
    return this.#byAddress.get(address)?.size ?? 0;
  }

  /** Why a new connection from `address` must be refused, if it must. */
  #refusal(address: string, peer: string): ProtocolError | undefined {
    const sessions = this.#byAddress.get(address);
    const { maxConnectionsPerAddress, maxUnregisteredPerAddress } = this.options;
    let error: ProtocolError | undefined;
    if (sessions !== undefined && sessions.size >= maxConnectionsPerAddress) {
      error = new ProtocolError(
        "too_many_connections",
        `Your address ${address} already has ${sessions.size} connections, the most one address may have; close some before opening another, or ask the operator to raise --max-connections-per-address`,
        "",
      );
    } else if (sessions !== undefined && sessions.size >= maxUnregisteredPerAddress) {
      let waiting = 0;
      for (const session of sessions) if (!this.router.isRegistered(session)) waiting++;
      if (waiting >= maxUnregisteredPerAddress) {
        error = new ProtocolError(
          "too_many_connections",
          `Your address ${address} already has ${waiting} connections that have not registered, the most one address may have; register each connection right after connecting, or ask the operator to raise --max-unregistered-per-address`,
          "",
        );
      }
    }
    if (error !== undefined) {
      this.#logRefusal(address, peer, error.message);
      return error;
    }
    if (this.connectionCount >= this.options.maxConnections) {
      if (this.#warnings.take() >= 0) {
        logger.warn("Refused {peer}: server full ({max} connections)", { peer, max: this.options.maxConnections });
      }
      return this.fullError();
    }
    return undefined;
  }

  /** One line per address per interval, however many refusals. */
  #logRefusal(address: string, peer: string, message: string): void {
    const now = performance.now();
    const entry = this.#refusalLog.get(address);
    if (entry !== undefined && now - entry.atMs < LOG_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    if (this.#refusalLog.size >= 4096) {
      for (const [key, value] of this.#refusalLog) {
        if (now - value.atMs >= LOG_INTERVAL_MS) this.#refusalLog.delete(key);
      }
    }
    this.#refusalLog.set(address, { atMs: now, suppressed: 0 });
    if (this.#warnings.take() < 0) return;
    logger.warn("Refused {peer}: too_many_connections: {message}{more}", {
      peer,
      message,
      more: entry && entry.suppressed > 0 ? ` (${entry.suppressed} more refused from this address before)` : "",
    });
  }

  #track(session: Session): void {
    let sessions = this.#byAddress.get(session.address);
    if (sessions === undefined) this.#byAddress.set(session.address, sessions = new Set());
    sessions.add(session);
  }

  #untrack(session: Session): void {
    const sessions = this.#byAddress.get(session.address);
    if (sessions === undefined) return;
    sessions.delete(session);
    if (sessions.size === 0) this.#byAddress.delete(session.address);
  }

  #checkDeadlines(): void {
    const now = performance.now();
    if (now - this.#pool.lastTakenAt >= POOL_IDLE_MS) {
      this.#pool.trim(Math.floor(this.options.maxMemoryBytes / POOL_IDLE_SHARE / CHUNK_BYTES));
    }
    for (const connection of this.#connections) {
      try {
        connection.checkDeadlines(now);
      } catch (error) {
        logger.error("Unexpected error while checking the deadlines of {peer}: {error}", {
          peer: connection.peer,
          error: errorStack(error),
        });
      }
    }
  }

  async #acceptLoop(listener: Deno.TcpListener, framing: Framing): Promise<void> {
    let backoffMs = 0;
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        // Out of file descriptors (EMFILE, ENFILE) or memory, a connection reset while queued...:
        // pause, then go on; the pause doubles while accepts keep failing.
        backoffMs = Math.min(ACCEPT_BACKOFF_MAX_MS, Math.max(ACCEPT_BACKOFF_MIN_MS, backoffMs * 2));
        this.#logAcceptError(framing, error, backoffMs);
        await this.#pause(backoffMs);
        continue;
      }
      backoffMs = 0;
      try {
        this.#accepted(conn, framing);
      } catch (error) {
        logger.error("Unexpected error while accepting a connection on the {framing} port: {error}", {
          framing,
          error: errorStack(error),
        });
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
    }
  }

  #accepted(conn: Deno.TcpConn, framing: Framing): void {
    if (this.#closing) {
      conn.close();
      return;
    }
    const peer = formatPeer(conn.remoteAddr);
    const address = addressKey(conn.remoteAddr.hostname);
    const refusal = this.#refusal(address, peer);
    if (refusal !== undefined) {
      this.#refuse(conn, framing, refusal);
      return;
    }
    const connection = new Connection(conn, {
      router: this.router,
      portFraming: framing,
      strictFraming: this.options.strictFraming,
      maxPacketBytes: this.options.maxPacketBytes,
      maxQueueBytes: this.options.maxQueueBytes,
      registerTimeoutMs: this.options.registerTimeoutMs,
      warnings: this.#warnings,
      onClosed: (c) => {
        this.#connections.delete(c);
        this.#untrack(c);
      },
      onSlowConsumer: () => this.slowConsumers++,
      budget: this.budget,
      pool: this.#pool,
      writeTimeoutMs: this.options.writeTimeoutMs,
      pingTimeoutMs: this.options.pingTimeoutMs,
    });
    this.#connections.add(connection);
    this.#track(connection);
    connection.run().catch((error) =>
      logger.error("Connection failed: {error}", {
        error: errorStack(error),
      })
    );
  }

  #logAcceptError(framing: Framing, error: unknown, pauseMs: number): void {
    this.acceptErrors++;
    const now = performance.now();
    const log = this.#acceptLog;
    if (now - log.atMs < LOG_INTERVAL_MS) {
      log.suppressed++;
      return;
    }
    logger.error("Accept failed on the {framing} port: {error}; pausing accepts for {pauseMs} ms{more}", {
      framing,
      error: errorMessage(error),
      pauseMs,
      more: log.suppressed > 0 ? ` (${log.suppressed} more failures since the last line)` : "",
    });
    log.atMs = now;
    log.suppressed = 0;
  }

  /** Waits `ms`, or less if the server closes meanwhile. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#pauses.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#pauses.add(done);
    });
  }

  #refuse(conn: Deno.TcpConn, framing: Framing, error: ProtocolError): void {
    this.refusedConnections++;
    this.router.counters.errors[error.code]++;
    this.router.events.record({ kind: "refused", address: formatPeer(conn.remoteAddr), reason: error.code });
    const frame = encodeFrame(framing, errorPacket(error.code, error.message, error.context));
    // Best effort: the frame fits in the socket buffer; never wait on a peer we refuse.
    const refusal = conn.write(frame).then(() => {}, () => {}).finally(() => {
      this.#refusals.delete(refusal);
      try {
        conn.close();
      } catch {
        // already closed
      }
    });
    this.#refusals.add(refusal);
  }

  /**
   * Stops accepting, lets every connection flush for at most one second, closes them.
   *
   * @returns when everything is closed
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#deadlineTimer);
    for (const { listener } of this.#listeners) listener.close();
    for (const done of [...this.#pauses]) done();
    await Promise.all(this.#loops);
    const connections = [...this.#connections];
    for (const c of connections) c.close("server shutting down");
    for (const s of [...this.#externalSessions]) s.close("server shutting down");
    await Promise.all([...connections.map((c) => c.done), ...this.#refusals]);
  }
}
