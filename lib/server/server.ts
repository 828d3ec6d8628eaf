/**
 * The TCP server: one accept loop per enabled port, all sharing one router.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Framing } from "../framing/detect.ts";
import { encodeFrame } from "../framing/by_framing.ts";
import { ProtocolError } from "../router/error_code.ts";
import { errorPacket } from "../router/replies.ts";
import { Router } from "../router/router.ts";
import { WarningLimiter } from "../router/warning_limiter.ts";
import type { Session } from "../router/session.ts";
import { MemoryBudget } from "../limits/memory_budget.ts";
import { Connection, formatPeer } from "./connection.ts";

const logger = getLogger(["tcposcrouter", "server"]);

/** Server settings (the CLI's flags, in units). */
export interface ServerOptions {
  /** Interface to listen on; "::" is every interface, IPv4 and IPv6. */
  hostname: string;
  /** Port for OSC 1.0 length-prefix framing; undefined disables it; 0 picks a free port. */
  lengthPrefixPort: number | undefined;
  /** Port for OSC 1.1 SLIP framing; undefined disables it; 0 picks a free port. */
  slipPort: number | undefined;
  maxPacketBytes: number;
  maxQueueBytes: number;
  maxConnections: number;
  registerTimeoutMs: number;
  strictFraming: boolean;
  /** Everything clients together may make the router hold (partial frames, queues, WebSocket buffers). */
  maxMemoryBytes: number;
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
};

/** A port could not be opened. */
export class ListenError extends Error {
  /**
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
      : `cannot listen on port ${port}: ${cause instanceof Error ? cause.message : String(cause)}`;
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
  framing: Framing;
  hostname: string;
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
  readonly router: Router;
  readonly options: ServerOptions;
  #listeners: { listener: Deno.TcpListener; framing: Framing }[] = [];
  #connections = new Set<Connection>();
  #loops: Promise<void>[] = [];
  #warnings = new WarningLimiter({ burst: 20, perSecond: 2 });
  #closing = false;
  #refusals = new Set<Promise<void>>();
  /** Connections refused because the server was full. */
  refusedConnections = 0;
  /** Clients cut off because they fell more than --max-queue-bytes behind. */
  slowConsumers = 0;
  /** Sessions on other transports (WebSocket) that count against --max-connections. */
  #externalSessions = new Set<Session>();
  /** When the server started (ms since the epoch). */
  readonly startedAt = Date.now();
  /** The one budget for every byte clients make the router hold, on every transport. */
  readonly budget: MemoryBudget;

  private constructor(options: ServerOptions, router: Router) {
    this.options = options;
    this.router = router;
    this.budget = new MemoryBudget(options.maxMemoryBytes);
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
   * Admits a session of another transport (WebSocket) under the connection limits.
   *
   * @param session the new session (its `address` is the per-address key)
   * @returns undefined when admitted; otherwise the error to send before closing it
   */
  admit(session: Session): ProtocolError | undefined {
    if (this.#closing || this.connectionCount >= this.options.maxConnections) {
      this.refusedConnections++; // the error itself is counted when the caller sends it
      this.router.events.record({ kind: "refused", address: session.peer, reason: "server_full" });
      return this.fullError();
    }
    this.#externalSessions.add(session);
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
    this.#externalSessions.delete(session);
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

  async #acceptLoop(listener: Deno.TcpListener, framing: Framing): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        logger.error("Accept failed on the {framing} port: {error}", { framing, error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 100)); // e.g. out of file descriptors
        continue;
      }
      if (this.#closing) {
        conn.close();
        continue;
      }
      if (this.connectionCount >= this.options.maxConnections) {
        this.#refuseFull(conn, framing);
        continue;
      }
      const connection = new Connection(conn, {
        router: this.router,
        portFraming: framing,
        strictFraming: this.options.strictFraming,
        maxPacketBytes: this.options.maxPacketBytes,
        maxQueueBytes: this.options.maxQueueBytes,
        registerTimeoutMs: this.options.registerTimeoutMs,
        warnings: this.#warnings,
        onClosed: (c) => this.#connections.delete(c),
        onSlowConsumer: () => this.slowConsumers++,
      });
      this.#connections.add(connection);
      connection.run().catch((error) => logger.error("Connection failed: {error}", { error: String(error) }));
    }
  }

  #refuseFull(conn: Deno.TcpConn, framing: Framing): void {
    this.refusedConnections++;
    this.router.counters.errors.server_full++;
    this.router.events.record({ kind: "refused", address: formatPeer(conn.remoteAddr), reason: "server_full" });
    if (this.#warnings.take() >= 0) {
      logger.warn("Refused {peer}: server full ({max} connections)", {
        peer: formatPeer(conn.remoteAddr),
        max: this.options.maxConnections,
      });
    }
    const error = this.fullError();
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
    for (const { listener } of this.#listeners) listener.close();
    await Promise.all(this.#loops);
    const connections = [...this.#connections];
    for (const c of connections) c.close("server shutting down");
    for (const s of [...this.#externalSessions]) s.close("server shutting down");
    await Promise.all([...connections.map((c) => c.done), ...this.#refusals]);
  }
}
