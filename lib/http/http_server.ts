/**
 * The optional HTTP port (`--http-port`): a live status page, Prometheus metrics, a health
 * check, and WebSocket clients on the same router.
 *
 * The router reads HTTP/1.1 itself on connections it accepts with `Deno.listen`, rather than
 * through `Deno.serve` or `node:http`: it must bound what a client can make it hold, and neither
 * can. `Deno.serve` has no header or idle timeouts and `Deno.upgradeWebSocket` buffers messages
 * of up to 64 MiB before the router sees them; Deno's `node:http` ignores `headersTimeout`,
 * `requestTimeout` and `keepAliveTimeout`, and its `node:net` accept loop stops for good after
 * one "too many open files". Here, a request head has 10 s and 16 KiB, an idle keep-alive
 * connection 5 s, accept errors pause accepting for 100 ms, and a WebSocket message over
 * `--max-packet-bytes` is refused from its frame header.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import webClientPage from "../../examples/web/index.html" with { type: "text" };
import type { BudgetHolder } from "../limits/memory_budget.ts";
import { addressKey, formatPeerAddress } from "../net/address.ts";
import { WarningLimiter } from "../router/warning_limiter.ts";
import type { Server } from "../server/server.ts";
import { Access, type AccessOptions, DEFAULT_ACCESS_OPTIONS } from "./access.ts";
import { ClientWriter } from "./client_writer.ts";
import { BadRequest, parseRequestHead, type RequestHead } from "./http_request.ts";
import statusPage from "./status.html" with { type: "text" };
import { prometheusText, StatusSampler } from "./status.ts";
import { acceptKey } from "./websocket_frames.ts";
import { WebSocketSession } from "./websocket_session.ts";

const logger = getLogger(["tcposcrouter", "http"]);

/** Bounds of the HTTP port. */
export interface HttpLimits {
  /** Time a request head has to arrive in full, from its first byte (or from the connection). */
  headersTimeoutMs: number;
  /** Time a keep-alive connection may wait for its next request. */
  idleTimeoutMs: number;
  /** Plain HTTP connections at once (WebSocket sessions count against --max-connections instead). */
  maxConnections: number;
  /** `/events` streams at once; more get 503. */
  maxEventStreams: number;
  /** Bytes one `/events` stream may have unsent before it is dropped. */
  maxEventStreamBytes: number;
  /** How often the figures are sampled and sent to `/events` streams. */
  sampleIntervalMs: number;
  /**
   * A WebSocket or `/events` client that takes no byte for this long while bytes wait is cut
   * off; undefined takes the server's `--write-timeout` (10 s until the server has that flag).
   */
  writeTimeoutMs: number | undefined;
}

/** Defaults of {@link HttpLimits}. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  maxConnections: 128,
  maxEventStreams: 64,
  maxEventStreamBytes: 256 * 1024,
  sampleIntervalMs: 1000,
  writeTimeoutMs: undefined,
};

/** Where to listen, and who may use the port. */
export interface HttpOptions {
  hostname: string;
  port: number;
  version: string;
  /** Hosts, origins and token (none by default: the router's own names and pages, no token). */
  access?: AccessOptions;
  /** Timeouts and caps (defaults: {@link DEFAULT_HTTP_LIMITS}). */
  limits?: Partial<HttpLimits>;
}

/** A running HTTP server. */
export interface HttpServer {
  /** The port (resolved when 0 was asked). */
  port: number;
  /** Plain HTTP connections open now (not WebSocket sessions, not event streams). */
  readonly connectionCount: number;
  /** `/events` streams open now. */
  readonly eventStreamCount: number;
  /** Closes live event streams and HTTP connections, then the listener. */
  shutdown(): Promise<void>;
}

/** The HTTP port could not be opened. */
export class HttpListenError extends Error {
  /**
   * @param port the port asked for
   * @param cause the system's error
   */
  constructor(readonly port: number, cause: unknown) {
    const why = cause instanceof Deno.errors.AddrInUse
      ? `--http-port ${port} is in use: is another router or web server running? choose another with --http-port`
      : cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable
      ? `--http-port ${port} needs privileges this user does not have: choose one above 1023 with --http-port`
      : `cannot listen on --http-port ${port}: ${cause instanceof Error ? cause.message : String(cause)}`;
    super(why, { cause });
    this.name = "HttpListenError";
  }
}

const READ_BUFFER_BYTES = 16 * 1024;
const encoder = new TextEncoder();

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  421: "Misdirected Request",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** A response to write: status, headers, body; `close` ends the connection after it. */
interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  close?: boolean;
}

/** An `/events` client: a budget holder whose unsent bytes are bounded. */
class EventStream implements BudgetHolder {
  readonly writer: ClientWriter;
  #onGone: (stream: EventStream) => void;
  #conn: Deno.TcpConn;
  #gone = false;

  constructor(
    conn: Deno.TcpConn,
    readonly peer: string,
    server: Server,
    limits: HttpLimits,
    writeTimeoutMs: number,
    onGone: (stream: EventStream) => void,
  ) {
    this.#conn = conn;
    this.#onGone = onGone;
    this.writer = new ClientWriter(conn, this, {
      budget: server.budget,
      maxQueueBytes: limits.maxEventStreamBytes,
      writeTimeoutMs,
      onOverflow: () => this.drop(`more than ${limits.maxEventStreamBytes} bytes unsent`),
      onWriteTimeout: () => this.drop(`took nothing for ${writeTimeoutMs / 1000} s`),
      onError: () => this.end(),
    });
  }

  shed(reason: string): void {
    this.drop(reason);
  }

  drop(why: string): void {
    if (this.#gone) return;
    logger.warn("Dropping the status event stream of {peer}: {why}", { peer: this.peer, why });
    this.end();
  }

  /** Reads (and ignores) until the client goes, so that a closed stream is noticed at once. */
  async watch(): Promise<void> {
    const buffer = new Uint8Array(1024);
    try {
      while (!this.#gone && await this.#conn.read(buffer) !== null) {
        // an event stream's client has nothing to say
      }
    } catch {
      // closed
    }
    this.end();
    await this.writer.drained();
  }

  end(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.writer.stop();
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#onGone(this);
  }
}

/**
 * Starts the HTTP port.
 *
 * @example Start on a free port, ask for /healthz, stop
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_SERVER_OPTIONS, Server } from "../server/server.ts";
 * import { startHttp } from "./http_server.ts";
 * const server = Server.start({ ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1", lengthPrefixPort: 0, slipPort: undefined });
 * const http = startHttp(server, { hostname: "127.0.0.1", port: 0, version: "1.0.0" });
 * const response = await fetch(`http://127.0.0.1:${http.port}/healthz`);
 * assert.equal(await response.text(), "ok\n");
 * await server.close();
 * await http.shutdown();
 * ```
 *
 * @param server the router's server (for its figures, its router and its limits)
 * @param options where to listen and who may use the port
 * @returns the running HTTP server
 * @throws {HttpListenError} when the port cannot be opened (nothing is left running)
 */
export function startHttp(server: Server, options: HttpOptions): HttpServer {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const access = new Access(options.access ?? DEFAULT_ACCESS_OPTIONS);
  const writeTimeoutMs = limits.writeTimeoutMs ?? writeTimeoutOf(server);
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  } catch (error) {
    throw new HttpListenError(options.port, error);
  }

  const listeners = server.listening.map((l) => ({
    framing: l.framing === "slip" ? "OSC 1.1 (SLIP)" : "OSC 1.0 (length prefix)",
    address: `${l.hostname.includes(":") ? `[${l.hostname}]` : l.hostname}:${l.port}`,
  }));
  const address = `${
    options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname
  }:${listener.addr.port}`;
  listeners.push({ framing: "HTTP: this page, /metrics, WebSocket /osc", address });
  const streams = new Set<EventStream>();
  const connections = new Set<Deno.TcpConn>();
  const sessions = new Set<WebSocketSession>();
  const sampler = new StatusSampler(server, options.version, listeners, () => {
    let n = 0;
    for (const session of sessions) n += session.pendingBytes;
    for (const stream of streams) n += stream.writer.pendingBytes;
    return n;
  });
  sampler.setHttp(options.hostname, listener.addr.port);
  const tasks = new Set<Promise<void>>();
  let closing = false;
  /** Refusal log lines, rate-limited: a hostile page can make a browser retry in a loop. */
  const refusals = new WarningLimiter({ burst: 20, perSecond: 2 });
  let latest = sampler.sample();
  const timer = setInterval(() => {
    latest = sampler.sample();
    const event = encoder.encode(`data: ${JSON.stringify(latest)}\n\n`);
    for (const stream of [...streams]) stream.writer.push(event);
  }, limits.sampleIntervalMs);

  const track = (task: Promise<void>) => {
    const t = task.catch((error) => logger.error("HTTP connection failed: {error}", { error: String(error) }))
      .finally(() => tasks.delete(t));
    tasks.add(t);
  };

  const acceptLoop = async () => {
    let warnedFull = 0;
    let warnedAccept = 0;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing || error instanceof Deno.errors.BadResource) return;
        if (Date.now() - warnedAccept > 10_000) {
          warnedAccept = Date.now();
          logger.error("Accept failed on the HTTP port: {error}; pausing 100 ms and going on", {
            error: String(error),
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 100)); // e.g. out of file descriptors
        continue;
      }
      if (closing) {
        conn.close();
        continue;
      }
      if (connections.size >= limits.maxConnections) {
        if (Date.now() - warnedFull > 10_000) {
          warnedFull = Date.now();
          logger.warn("HTTP port full ({max} connections): refusing new ones", { max: limits.maxConnections });
        }
        track(refuse(conn));
        continue;
      }
      connections.add(conn);
      track(serve(conn).finally(() => connections.delete(conn)));
    }
  };

  /** Over the connection cap: a 503 written without waiting, then closed. */
  const refuse = async (conn: Deno.TcpConn) => {
    const bytes = responseBytes({
      status: 503,
      headers: { "retry-after": "5" },
      body: "Too many HTTP connections; try again shortly\n",
      close: true,
    }, false);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      conn.write(bytes).catch(() => 0),
      new Promise((resolve) => timer = setTimeout(resolve, 1000)),
    ]);
    clearTimeout(timer);
    closeQuietly(conn);
  };

  /** Serves one connection's requests until it closes, times out, or becomes a WebSocket or event stream. */
  const serve = async (conn: Deno.TcpConn) => {
    const remote = conn.remoteAddr;
    const peer = formatPeerAddress(remote.hostname, remote.port);
    let deadline: ReturnType<typeof setTimeout> | undefined;
    let timedOut: string | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(deadline);
      deadline = setTimeout(() => {
        timedOut = what;
        closeQuietly(conn);
      }, ms);
    };
    let pending: Uint8Array = new Uint8Array(0);
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let handedOff = false;
    let idle = false;
    arm(limits.headersTimeoutMs, "request head not complete in time");
    try {
      for (;;) {
        let head: RequestHead | undefined;
        try {
          head = parseRequestHead(pending);
        } catch (error) {
          if (!(error instanceof BadRequest)) throw error;
          arm(writeTimeoutMs, "response not taken in time");
          await writeAll(conn, responseBytes({ status: error.status, body: `${error.message}\n`, close: true }, false));
          return;
        }
        if (head === undefined) {
          const n = await conn.read(buffer);
          if (n === null) return;
          if (idle) arm(limits.headersTimeoutMs, "request head not complete in time"); // from its first byte
          idle = false;
          pending = concat(pending, buffer.subarray(0, n));
          continue;
        }
        const rest = pending.slice(head.headBytes);
        pending = rest;
        arm(writeTimeoutMs, "response not taken in time");
        const outcome = await handle(conn, peer, head, rest);
        if (outcome === "handed-off") {
          handedOff = true;
          return;
        }
        if (outcome === "close") return;
        idle = pending.length === 0;
        if (idle) arm(limits.idleTimeoutMs, "idle");
        else arm(limits.headersTimeoutMs, "request head not complete in time");
      }
    } catch (error) {
      if (timedOut === undefined && !closing) {
        // A peer that went away is routine; anything else is a bug that must not end the router.
        const routine = error instanceof Deno.errors.BadResource || error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.Interrupted;
        if (routine) logger.debug("HTTP connection from {peer} failed: {error}", { peer, error: String(error) });
        else {
          logger.error("Error while serving {peer}; closing its connection: {error}", {
            peer,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          });
        }
      }
    } finally {
      clearTimeout(deadline);
      if (timedOut !== undefined) logger.debug("Closed HTTP connection from {peer}: {why}", { peer, why: timedOut });
      if (!handedOff) closeQuietly(conn);
    }
  };

  /** Answers one request; says whether the connection goes on. */
  const handle = async (
    conn: Deno.TcpConn,
    peer: string,
    head: RequestHead,
    rest: Uint8Array,
  ): Promise<"keep-alive" | "close" | "handed-off"> => {
    const keepAlive = wantsKeepAlive(head);
    const reply = async (r: Reply) => {
      await writeAll(conn, responseBytes(r, keepAlive && !r.close, head.method === "HEAD"));
      return keepAlive && !r.close ? "keep-alive" as const : "close" as const;
    };
    const host = head.headers.get("host");
    if (head.method !== "GET" && head.method !== "HEAD") {
      return await reply({
        status: 405,
        headers: { allow: "GET, HEAD" },
        body: "The HTTP port serves GET and HEAD only\n",
        close: true,
      });
    }
    if (head.headers.has("transfer-encoding") || Number(head.headers.get("content-length") ?? 0) !== 0) {
      return await reply({ status: 400, body: "The HTTP port takes no request bodies\n", close: true });
    }
    if (!access.hostAllowed(host)) {
      const suppressed = refusals.take();
      if (suppressed >= 0) {
        logger.info("Refused an HTTP request from {peer} for host {host} (not one of the router's names){more}", {
          peer,
          host: host ?? "",
          more: suppressed > 0 ? ` (${suppressed} refusals not logged before this one)` : "",
        });
      }
      return await reply({
        status: 421,
        body: "This router does not answer to that host name; the operator can add it with --http-allow-host\n",
        close: true,
      });
    }
    const guarded = head.path === "/" || head.path === "/status.json" || head.path === "/events" ||
      head.path === "/metrics";
    if (guarded && !access.authorized(head.headers.get("authorization"))) {
      return await reply({
        status: 401,
        headers: { "www-authenticate": 'Basic realm="tcposcrouter status", charset="UTF-8"' },
        body: "The status page needs the token (as the password of any user, or as a Bearer token)\n",
      });
    }
    switch (head.path) {
      case "/":
        return await reply({ status: 200, headers: { "content-type": "text/html; charset=utf-8" }, body: statusPage });
      case "/status.json":
        return await reply({
          status: 200,
          headers: { "content-type": "application/json" },
          body: JSON.stringify(latest),
        });
      case "/events":
        return await startEvents(conn, peer, head, reply);
      case "/metrics":
        return await reply({
          status: 200,
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          body: prometheusText(sampler.snapshot()),
        });
      case "/healthz":
        return await reply({ status: 200, headers: { "content-type": "text/plain" }, body: "ok\n" });
      case "/client":
      case "/client/":
        return await reply({
          status: 200,
          headers: { "content-type": "text/html; charset=utf-8" },
          body: webClientPage,
        });
      case "/osc":
        return await upgrade(conn, peer, head, rest, reply);
      default:
        return await reply({ status: 404, body: "Not found: try /, /metrics, /healthz, /client or /osc\n" });
    }
  };

  const startEvents = async (
    conn: Deno.TcpConn,
    peer: string,
    head: RequestHead,
    reply: (r: Reply) => Promise<"keep-alive" | "close">,
  ): Promise<"keep-alive" | "close" | "handed-off"> => {
    if (head.method === "HEAD") return await reply({ status: 200, headers: { "content-type": "text/event-stream" } });
    if (streams.size >= limits.maxEventStreams) {
      return await reply({
        status: 503,
        headers: { "retry-after": "10" },
        body: `Too many live status pages (${limits.maxEventStreams}); try again later\n`,
        close: true,
      });
    }
    // Delimited by the end of the connection: no chunked encoding to get wrong.
    await writeAll(
      conn,
      encoder.encode(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n" +
          `connection: close\r\nx-content-type-options: nosniff\r\n\r\nretry: 2000\ndata: ${
            JSON.stringify(latest)
          }\n\n`,
      ),
    );
    const stream = new EventStream(conn, peer, server, limits, writeTimeoutMs, (s) => streams.delete(s));
    streams.add(stream);
    track(stream.watch());
    return "handed-off";
  };

  const upgrade = async (
    conn: Deno.TcpConn,
    peer: string,
    head: RequestHead,
    rest: Uint8Array,
    reply: (r: Reply) => Promise<"keep-alive" | "close">,
  ): Promise<"keep-alive" | "close" | "handed-off"> => {
    const h = head.headers;
    if (h.get("upgrade")?.toLowerCase() !== "websocket") {
      return await reply({ status: 426, body: "/osc is a WebSocket endpoint: one binary message per OSC packet\n" });
    }
    const origin = h.get("origin");
    if (!access.originAllowed(origin, h.get("host"))) {
      const suppressed = refusals.take();
      if (suppressed >= 0) {
        logger.info("Refused a WebSocket from {peer}: origin {origin} is not allowed{more}", {
          peer,
          origin: origin ?? "",
          more: suppressed > 0 ? ` (${suppressed} refusals not logged before this one)` : "",
        });
      }
      return await reply({
        status: 403,
        body: "Pages from this origin may not open /osc; the operator can allow it with --http-allow-origin\n",
        close: true,
      });
    }
    const key = h.get("sec-websocket-key") ?? "";
    if (h.get("sec-websocket-version") !== "13" || !/^[A-Za-z0-9+/]{22}==$/.test(key) || head.method !== "GET") {
      return await reply({
        status: 426,
        headers: { "sec-websocket-version": "13" },
        body: "A WebSocket upgrade needs GET, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key\n",
        close: true,
      });
    }
    await writeAll(
      conn,
      encoder.encode(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
          `sec-websocket-accept: ${acceptKey(key)}\r\n\r\n`,
      ),
    );
    const { maxPacketBytes, maxQueueBytes, registerTimeoutMs } = server.options;
    let admitted = false;
    const session = new WebSocketSession(conn, peer, addressKey(conn.remoteAddr.hostname), {
      router: server.router,
      budget: server.budget,
      maxPacketBytes,
      maxQueueBytes,
      registerTimeoutMs,
      writeTimeoutMs,
      onClosed: (s) => {
        sessions.delete(s);
        if (admitted) server.release(s);
      },
      onSlowConsumer: () => server.slowConsumers++,
    });
    sessions.add(session);
    const refusal = closing ? server.fullError() : server.admit(session);
    admitted = refusal === undefined;
    track(session.run(rest));
    if (refusal !== undefined) {
      server.router.sendError(session, refusal);
      session.close(refusal.code);
    }
    return "handed-off";
  };

  const loop = acceptLoop();
  logger.info("HTTP status page, /metrics and WebSocket /osc on {address}", { address });
  return {
    port: listener.addr.port,
    get connectionCount() {
      return connections.size;
    },
    get eventStreamCount() {
      return streams.size;
    },
    async shutdown() {
      if (closing) return;
      closing = true;
      clearInterval(timer);
      try {
        listener.close();
      } catch {
        // already closed
      }
      await loop;
      for (const stream of [...streams]) stream.end();
      for (const conn of [...connections]) closeQuietly(conn);
      for (const session of [...sessions]) session.close("server shutting down");
      await Promise.all([...sessions].map((s) => s.done));
      while (tasks.size > 0) await Promise.all([...tasks]);
    },
  };
}

/** `--write-timeout` from the server's options, once the server has it; 10 s until then. */
function writeTimeoutOf(server: Server): number {
  const value: unknown = (server.options as object as Record<string, unknown>)["writeTimeoutMs"];
  return typeof value === "number" && value > 0 ? value : 10_000;
}

function wantsKeepAlive(head: RequestHead): boolean {
  const connection = (head.headers.get("connection") ?? "").toLowerCase();
  if (head.version === "1.0") return /\bkeep-alive\b/.test(connection);
  return !/\bclose\b/.test(connection);
}

function responseBytes(r: Reply, keepAlive: boolean, headOnly = false): Uint8Array {
  const body = encoder.encode(r.body ?? "");
  const headers: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...r.headers,
    "content-length": String(body.length),
    connection: keepAlive ? "keep-alive" : "close",
  };
  let text = `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? ""}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  const headBytes = encoder.encode(`${text}\r\n`);
  return headOnly ? headBytes : concat(headBytes, body);
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
