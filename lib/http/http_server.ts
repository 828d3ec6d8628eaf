/**
 * The optional HTTP port (`--http-port`): a live status page, Prometheus metrics, a health
 * check, and WebSocket clients on the same router.
 *
 * HTTP is `node:http`'s and the WebSocket protocol the `ws` package's; the router sets their
 * bounds: a request head has 10 s (`headersTimeout`, checked every `connectionsCheckingInterval`)
 * and 16 KiB (`maxHeaderSize`), an idle keep-alive connection 5 s (`keepAliveTimeout`, which
 * Node lets run one second over), plain connections are capped in all and per address (counted
 * on `connection`), and a WebSocket message over `--max-packet-bytes` is refused from its frame
 * header (`maxPayload`).
 *
 * Deno 2.9's `node:net` stops accepting for good after one accept error such as "too many open
 * files", without an `error` event. So while no connection arrives for a while, the port checks
 * that it still accepts by connecting to itself; when the kernel takes the connection and
 * `node:http` never sees it, the port listens again.
 *
 * @module
 */

import type { ClusterStatus } from "../cluster/nats_cluster.ts";
import { getLogger } from "@logtape/logtape";
import type { Buffer } from "node:buffer";
import http from "node:http";
import net, { type Socket } from "node:net";
import type { Duplex } from "node:stream";
// @ts-types="npm:@types/ws@^8.18.1"
import { WebSocketServer } from "ws";
import webClientPage from "./web_client.html" with { type: "text" };
import type { BudgetHolder } from "../limits/memory_budget.ts";
import { addressKey, formatHostPort, formatPeerAddress } from "../net/address.ts";
import { WarningLimiter } from "../util/warning_limiter.ts";
import type { Server } from "../server/server.ts";
import { Access, type AccessOptions, DEFAULT_ACCESS_OPTIONS } from "./access.ts";
import { ClientWriter } from "./client_writer.ts";
import statusPage from "./status.html" with { type: "text" };
import { prometheusText, StatusSampler } from "./status.ts";
import { WebSocketSession } from "./websocket_session.ts";
import { errorMessage, errorStack } from "../util/error_text.ts";

const logger = getLogger(["tcposcrouter", "http"]);

/** Bounds of the HTTP port. */
export interface HttpLimits {
  /** Time a request head has to arrive in full, from its first byte (or from the connection). */
  headersTimeoutMs: number;
  /** Time a keep-alive connection may wait for its next request (node:http lets it run up to 1 s over). */
  idleTimeoutMs: number;
  /** Plain HTTP connections at once (WebSocket sessions count against --max-connections instead). */
  maxConnections: number;
  /**
   * Plain HTTP connections at once from one address (an IPv6 /64 counts as one); more get 503,
   * so that one address cannot fill `maxConnections` and keep everyone else's upgrade out.
   */
  maxConnectionsPerAddress: number;
  /** `/events` streams at once; more get 503. */
  maxEventStreams: number;
  /** `/events` streams at once from one address (an IPv6 /64 counts as one); more get 503. */
  maxEventStreamsPerAddress: number;
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
const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  maxConnections: 128,
  maxConnectionsPerAddress: 16,
  maxEventStreams: 64,
  maxEventStreamsPerAddress: 8,
  maxEventStreamBytes: 256 * 1024,
  sampleIntervalMs: 1000,
  writeTimeoutMs: undefined,
};

/** Where to listen, and who may use the port. */
export interface HttpOptions {
  /** The address to listen on. */
  hostname: string;
  /** The port to listen on (0: any free port). */
  port: number;
  /** The router's version, shown on the status page. */
  version: string;
  /** Hosts, origins and token (none by default: the router's own names and pages, no token). */
  access?: AccessOptions;
  /** Timeouts and caps (defaults: {@link DEFAULT_HTTP_LIMITS}). */
  limits?: Partial<HttpLimits>;
  /** The cluster's state (`--cluster`), for the page and /metrics. */
  cluster?: () => ClusterStatus;
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
   * The HTTP port could not be opened.
   *
   * @param port the port asked for
   * @param cause the system's error
   */
  constructor(readonly port: number, cause: unknown) {
    const code = (cause as { code?: unknown } | undefined)?.code;
    const why = cause instanceof Deno.errors.AddrInUse || code === "EADDRINUSE"
      ? `--http-port ${port} is in use: is another router or web server running? choose another with --http-port`
      : cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable ||
          code === "EACCES" || code === "EPERM"
      ? `--http-port ${port} needs privileges this user does not have: choose one above 1023 with --http-port`
      : `cannot listen on --http-port ${port}: ${errorMessage(cause)}`;
    super(why, { cause });
    this.name = "HttpListenError";
  }
}

const encoder = new TextEncoder();

/** The most bytes a request head may have (request line and headers): `maxHeaderSize`. */
const MAX_HEAD_BYTES = 16 * 1024;
/** A port that saw no new connection for this long checks that it still accepts. */
const ACCEPT_CHECK_MS = 2000;
/** A refused connection gets this long to take its response before it is closed. */
const REFUSAL_LINGER_MS = 1000;

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
  #socket: Socket;
  #gone = false;

  constructor(
    response: http.ServerResponse,
    socket: Socket,
    readonly peer: string,
    server: Server,
    limits: HttpLimits,
    writeTimeoutMs: number,
    onGone: (stream: EventStream) => void,
  ) {
    this.#socket = socket;
    this.#onGone = onGone;
    this.writer = new ClientWriter({ write: (bytes, done) => void response.write(bytes, done) }, this, {
      budget: server.budget,
      maxQueueBytes: limits.maxEventStreamBytes,
      writeTimeoutMs,
      onOverflow: () => this.drop(`more than ${limits.maxEventStreamBytes} bytes unsent`),
      onWriteTimeout: () => this.drop(`took nothing for ${writeTimeoutMs / 1000} s`),
    });
    socket.once("close", () => this.end());
  }

  shed(reason: string): void {
    this.drop(reason);
  }

  drop(why: string): void {
    if (this.#gone) return;
    logger.warn("Dropping the status event stream of {peer}: {why}", { peer: this.peer, why });
    this.end();
  }

  end(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.writer.stop();
    this.#socket.destroy();
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
 * const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "1.0.0" });
 * const response = await fetch(`http://127.0.0.1:${http.port}/healthz`);
 * assert.equal(await response.text(), "ok\n");
 * await server.close();
 * await http.shutdown();
 * ```
 *
 * @param server the router's server (for its figures, its router and its limits)
 * @param options where to listen and who may use the port
 * @returns the running HTTP server, once it listens
 * @throws {HttpListenError} when the port cannot be opened (nothing is left running)
 */
export async function startHttp(server: Server, options: HttpOptions): Promise<HttpServer> {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const access = new Access(options.access ?? DEFAULT_ACCESS_OPTIONS);
  const writeTimeoutMs = limits.writeTimeoutMs ?? writeTimeoutOf(server);
  const httpServer = http.createServer({
    // How often head and request deadlines are checked (Node's default, 30 s, lets them run long).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.headersTimeoutMs + writeTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    maxHeaderSize: MAX_HEAD_BYTES,
    requireHostHeader: false, // a typed address: the Host check below decides
  });
  // A plain connection that takes no byte of its response (and sends nothing) for this long goes.
  httpServer.timeout = writeTimeoutMs;
  const { maxPacketBytes } = server.options;
  const wsOptions = {
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: maxPacketBytes,
    // ws keeps each read of an unfinished frame as its own buffer, charged at 640 bytes each beside
    // its bytes: bound their count (a trickle), while a full-size message may come in 1 KiB reads.
    maxBufferedChunks: Math.max(256, Math.ceil(maxPacketBytes / 1024)),
    maxFragments: 1024,
    closeTimeout: 1000, // a closing client gets a second to answer the close frame
  };
  const wss = new WebSocketServer(wsOptions);

  /** Plain connections, with their address key (counted per address in `plainByAddress`). */
  const plain = new Map<Socket, string>();
  const plainByAddress = new Map<string, number>();
  const streamsByAddress = new Map<string, number>();
  const addOne = (counts: Map<string, number>, key: string, delta: number) => {
    const n = (counts.get(key) ?? 0) + delta;
    if (n > 0) counts.set(key, n);
    else counts.delete(key);
  };
  /** A plain connection leaves the plain count (closed, or now an event stream or a WebSocket). */
  const unplain = (socket: Socket) => {
    const key = plain.get(socket);
    if (key === undefined) return;
    plain.delete(socket);
    addOne(plainByAddress, key, -1);
  };
  /** Refusal log lines for an address over its share, rate-limited. */
  const shareRefusals = new WarningLimiter({ burst: 5, perSecond: 0.2 });
  const refused = new Set<Socket>();
  const streams = new Set<EventStream>();
  const sessions = new Set<WebSocketSession>();
  /** While the accept loop checks itself: the connections it saw (address:port), its own among them. */
  let seenDuringCheck: Set<string> | undefined;
  let closing = false;
  let lastConnectionAt = performance.now();
  let warnedFull = 0;
  /** Refusal log lines, rate-limited: a hostile page can make a browser retry in a loop. */
  const refusals = new WarningLimiter({ burst: 20, perSecond: 2 });
  let warnedAccept = 0;
  let checking: Promise<void> | undefined;
  let latest: unknown;

  const warnAccept = (why: string) => {
    if (Date.now() - warnedAccept < 10_000) return;
    warnedAccept = Date.now();
    logger.error("Accept failed on the HTTP port: {why}; going on", { why });
  };

  /** Writes a response on a connection node:http no longer answers for (refused or upgrade), then ends it. */
  const refuse = (socket: Duplex, reply: Reply) => {
    refused.add(socket as Socket);
    const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    socket.once("close", () => {
      clearTimeout(linger);
      refused.delete(socket as Socket);
    });
    socket.on("error", () => {}); // a reset while it goes
    if (socket.writable) socket.end(responseBytes(reply));
    else socket.destroy();
  };

  httpServer.prependListener("connection", (socket: Socket) => {
    lastConnectionAt = performance.now();
    seenDuringCheck?.add(`${peerHost(socket.remoteAddress)}:${socket.remotePort}`);
    if (closing) {
      socket.destroy();
      return;
    }
    const key = addressKey(socket.remoteAddress ?? "");
    if ((plainByAddress.get(key) ?? 0) >= limits.maxConnectionsPerAddress) {
      const suppressed = shareRefusals.take();
      if (suppressed >= 0) {
        logger.warn("HTTP connections from {address} at its share ({max}): refusing more from it{more}", {
          address: key,
          max: limits.maxConnectionsPerAddress,
          more: suppressed > 0 ? ` (${suppressed} similar lines suppressed)` : "",
        });
      }
      refuse(socket, {
        status: 503,
        headers: { "retry-after": "5" },
        body: `Too many HTTP connections from your address (${limits.maxConnectionsPerAddress}); ` +
          "close some or try again shortly\n",
        close: true,
      });
      return;
    }
    if (plain.size >= limits.maxConnections) {
      if (Date.now() - warnedFull > 10_000) {
        warnedFull = Date.now();
        logger.warn("HTTP port full ({max} connections): refusing new ones", { max: limits.maxConnections });
      }
      refuse(socket, {
        status: 503,
        headers: { "retry-after": "5" },
        body: "Too many HTTP connections; try again shortly\n",
        close: true,
      });
      return;
    }
    plain.set(socket, key);
    addOne(plainByAddress, key, 1);
    socket.once("close", () => unplain(socket));
  });

  httpServer.on("clientError", (error: Error & { code?: string }, socket: Duplex) => {
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    logger.debug("HTTP connection closed: {error}", { error: error.message });
    if (error.code === "ECONNRESET" || error.code === "EPIPE" || !socket.writable) {
      socket.destroy();
      return;
    }
    refuse(socket, {
      status,
      body: status === 431
        ? `Request head over ${MAX_HEAD_BYTES} bytes\n`
        : status === 408
        ? "Request head not complete in time\n"
        : "Malformed request\n",
      close: true,
    });
  });

  /** What a request gets: a reply, or the event stream, or the WebSocket. */
  const route = (req: http.IncomingMessage, peer: string): Reply | "events" | "osc" => {
    const method = req.method ?? "";
    if (method !== "GET" && method !== "HEAD") {
      return {
        status: 405,
        headers: { allow: "GET, HEAD" },
        body: "The HTTP port serves GET and HEAD only\n",
        close: true,
      };
    }
    if (req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) !== 0) {
      return { status: 400, body: "The HTTP port takes no request bodies\n", close: true };
    }
    const url = req.url ?? "";
    const hostHeaders = req.rawHeaders.filter((v, i) => i % 2 === 0 && v.toLowerCase() === "host").length;
    if (!url.startsWith("/") || hostHeaders > 1) {
      return { status: 400, body: "Malformed request: a path and at most one Host header\n", close: true };
    }
    const host = req.headers.host;
    if (!access.hostAllowed(host)) {
      const suppressed = refusals.take();
      if (suppressed >= 0) {
        logger.info("Refused an HTTP request from {peer} for host {host} (not one of the router's names){more}", {
          peer,
          host: host ?? "",
          more: suppressed > 0 ? ` (${suppressed} refusals not logged before this one)` : "",
        });
      }
      return {
        status: 421,
        body: "This router does not answer to that host name; the operator can add it with --http-allow-host\n",
        close: true,
      };
    }
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    const guarded = path === "/" || path === "/status.json" || path === "/events" || path === "/metrics";
    if (guarded && !access.authorized(req.headers.authorization)) {
      return {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="tcposcrouter status", charset="UTF-8"' },
        body: "The status page needs the token (as the password of any user, or as a Bearer token)\n",
      };
    }
    switch (path) {
      case "/":
        return { status: 200, headers: { "content-type": "text/html; charset=utf-8" }, body: statusPage };
      case "/status.json":
        return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(latest) };
      case "/events":
        return "events";
      case "/metrics":
        return {
          status: 200,
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          body: prometheusText(sampler.snapshot()),
        };
      case "/healthz":
        return { status: 200, headers: { "content-type": "text/plain" }, body: "ok\n" };
      case "/client":
      case "/client/":
        return { status: 200, headers: { "content-type": "text/html; charset=utf-8" }, body: webClientPage };
      case "/osc":
        return "osc";
      default:
        return { status: 404, body: "Not found: try /, /metrics, /healthz, /client or /osc\n" };
    }
  };

  httpServer.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    if (refused.has(socket)) return; // answered already, closing
    const peer = formatPeerAddress(socket.remoteAddress ?? "?", socket.remotePort ?? 0);
    try {
      const r = route(req, peer);
      if (r === "events") startEvents(req, res, peer);
      else if (r === "osc") {
        reply(req, res, { status: 426, body: "/osc is a WebSocket endpoint: one binary message per OSC packet\n" });
      } else reply(req, res, r);
    } catch (error) {
      // A bug must not end the router: this connection goes, with a log line.
      logger.error("Error while serving {peer}; closing its connection: {error}", {
        peer,
        error: errorStack(error),
      });
      res.destroy();
    }
  });

  const startEvents = (req: http.IncomingMessage, res: http.ServerResponse, peer: string) => {
    if (req.method === "HEAD") {
      return reply(req, res, { status: 200, headers: { "content-type": "text/event-stream" } });
    }
    if (streams.size >= limits.maxEventStreams) {
      return reply(req, res, {
        status: 503,
        headers: { "retry-after": "10" },
        body: `Too many live status pages (${limits.maxEventStreams}); try again later\n`,
        close: true,
      });
    }
    const socket = req.socket;
    const key = addressKey(socket.remoteAddress ?? "");
    if ((streamsByAddress.get(key) ?? 0) >= limits.maxEventStreamsPerAddress) {
      return reply(req, res, {
        status: 503,
        headers: { "retry-after": "10" },
        body: `Too many live status pages from your address (${limits.maxEventStreamsPerAddress}); ` +
          "close some or try again later\n",
        close: true,
      });
    }
    unplain(socket); // an event stream, counted on its own
    socket.setTimeout(0); // its own write deadline applies
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "close",
      "x-content-type-options": "nosniff",
    });
    const stream = new EventStream(res, socket, peer, server, limits, writeTimeoutMs, (s) => {
      if (streams.delete(s)) addOne(streamsByAddress, key, -1);
    });
    streams.add(stream);
    addOne(streamsByAddress, key, 1);
    stream.writer.push(encoder.encode(`retry: 2000\ndata: ${JSON.stringify(latest)}\n\n`));
  };

  httpServer.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const tcp = socket as Socket;
    if (refused.has(tcp)) return void socket.destroy(); // over the cap: answered already
    unplain(tcp); // a WebSocket counts against the TCP limits (server.admit), not the plain cap
    const peer = formatPeerAddress(tcp.remoteAddress ?? "?", tcp.remotePort ?? 0);
    try {
      const r = route(req, peer);
      if (r === "events") return refuse(socket, { status: 400, body: "/events is not a WebSocket\n", close: true });
      if (r !== "osc") return refuse(socket, { ...r, close: true });
      if (req.headers.upgrade?.toLowerCase() !== "websocket") {
        return refuse(socket, {
          status: 426,
          body: "/osc is a WebSocket endpoint: one binary message per OSC packet\n",
          close: true,
        });
      }
      const origin = req.headers.origin;
      if (!access.originAllowed(origin, req.headers.host)) {
        const suppressed = refusals.take();
        if (suppressed >= 0) {
          logger.info("Refused a WebSocket from {peer}: origin {origin} is not allowed{more}", {
            peer,
            origin: origin ?? "",
            more: suppressed > 0 ? ` (${suppressed} refusals not logged before this one)` : "",
          });
        }
        return refuse(socket, {
          status: 403,
          body: "Pages from this origin may not open /osc; the operator can allow it with --http-allow-origin\n",
          close: true,
        });
      }
      // ws checks the rest of the handshake (GET, version 13, the key) and answers 400 itself.
      wss.handleUpgrade(req, socket, head, (ws) => startSession(ws, tcp, peer));
    } catch (error) {
      logger.error("Error while serving {peer}; closing its connection: {error}", {
        peer,
        error: errorStack(error),
      });
      socket.destroy();
    }
  });

  const startSession = (
    ws: Parameters<Parameters<WebSocketServer["handleUpgrade"]>[3]>[0],
    socket: Socket,
    peer: string,
  ) => {
    const { maxQueueBytes, registerTimeoutMs } = server.options;
    let admitted = false;
    const session = new WebSocketSession(ws, socket, peer, addressKey(socket.remoteAddress ?? ""), {
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
    session.run();
    if (refusal !== undefined) {
      server.router.sendError(session, refusal);
      session.close(refusal.code);
    }
  };

  /** Listens on the port (again); rejects with the system's error. */
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        httpServer.off("listening", onListening);
        reject(error);
      };
      const onListening = () => {
        httpServer.off("error", onError);
        resolve();
      };
      httpServer.once("error", onError);
      httpServer.once("listening", onListening);
      try {
        httpServer.listen(port, options.hostname);
      } catch (error) {
        httpServer.off("error", onError);
        httpServer.off("listening", onListening);
        reject(error);
      }
    });

  try {
    // Deno's node:net throws a missing --allow-net from a later tick, where nothing can catch it.
    const permission = Deno.permissions.querySync({ name: "net", host: `${options.hostname}:${options.port}` });
    if (permission.state !== "granted") {
      throw new Deno.errors.NotCapable(`no net permission for ${options.hostname}:${options.port}`);
    }
    await listen(options.port);
  } catch (error) {
    httpServer.close(() => {});
    throw new HttpListenError(options.port, error);
  }
  httpServer.on("error", (error: Error) => logger.error("HTTP port error: {error}", { error: error.message }));
  const port = (httpServer.address() as { port: number }).port;

  /**
   * Connects to the port itself: when the kernel takes the connection and node:http never sees
   * it, accepting has stopped (Deno's node:net, after an accept error): listen again.
   */
  const checkAccepting = async () => {
    const hostname = options.hostname === "0.0.0.0" || options.hostname === ""
      ? "127.0.0.1"
      : options.hostname === "::"
      ? "::1"
      : options.hostname;
    let conn: Deno.TcpConn;
    const seen = seenDuringCheck = new Set(); // the connection event can come before connect() resolves
    try {
      conn = await Deno.connect({ hostname, port });
    } catch (error) {
      seenDuringCheck = undefined;
      if (closing) return;
      if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
        clearInterval(acceptTimer); // not allowed to check: the port goes on unchecked
        return;
      }
      if (!(error instanceof Deno.errors.ConnectionRefused)) return warnAccept(String(error)); // out of descriptors
      warnAccept("the port refuses connections; listening again");
    }
    let arrived = false;
    if (conn! !== undefined) {
      const local = `${peerHost(conn.localAddr.hostname)}:${conn.localAddr.port}`;
      // Only time the event loop was free counts: a loop busy with an attack has not looked yet.
      let freeMs = 0;
      while (!(arrived = seen.has(local)) && !closing && freeMs < ACCEPT_CHECK_MS) {
        const started = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 100));
        const tookMs = performance.now() - started;
        if (tookMs < 250) freeMs += tookMs;
      }
      seenDuringCheck = undefined;
      conn.close(); // node:http sees the end and closes its side
      if (arrived || closing) return;
      warnAccept(
        `the port's own test connection was not accepted within ${ACCEPT_CHECK_MS / 1000} s (Deno's node:net ` +
          "stops accepting after an error such as too many open files; or a flood fills the backlog); listening again",
      );
    }
    if (closing) return;
    if (httpServer.listening) net.Server.prototype.close.call(httpServer); // the listener only
    await listen(port).catch((error) => warnAccept(`listening again failed: ${error}`));
  };

  const sampler = new StatusSampler(server, options.version, [
    ...server.listening.map((l) => ({
      framing: l.framing === "slip" ? "OSC 1.1 (SLIP)" : "OSC 1.0 (length prefix)",
      address: formatHostPort(l.hostname, l.port),
    })),
    {
      framing: "HTTP: this page, /metrics, WebSocket /osc",
      address: formatHostPort(options.hostname, port),
    },
  ], () => {
    let n = 0;
    for (const session of sessions) n += session.pendingBytes;
    for (const stream of streams) n += stream.writer.pendingBytes;
    return n;
  });
  sampler.setHttp(options.hostname, port);
  if (options.cluster !== undefined) sampler.setCluster(options.cluster);
  latest = sampler.sample();
  const timer = setInterval(() => {
    latest = sampler.sample();
    const event = encoder.encode(`data: ${JSON.stringify(latest)}\n\n`);
    for (const stream of [...streams]) stream.writer.push(event);
  }, limits.sampleIntervalMs);
  const acceptTimer = setInterval(() => {
    if (checking !== undefined || closing || performance.now() - lastConnectionAt < ACCEPT_CHECK_MS) return;
    checking = checkAccepting().finally(() => checking = undefined);
  }, ACCEPT_CHECK_MS);
  logger.info("HTTP status page, /metrics and WebSocket /osc on {address}", {
    address: formatHostPort(options.hostname, port),
  });

  return {
    port,
    get connectionCount() {
      return plain.size;
    },
    get eventStreamCount() {
      return streams.size;
    },
    async shutdown() {
      if (closing) return;
      closing = true;
      clearInterval(timer);
      clearInterval(acceptTimer);
      await checking;
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      for (const stream of [...streams]) stream.end();
      for (const socket of [...plain.keys(), ...refused]) socket.destroy();
      const open = [...sessions];
      for (const session of open) session.close("server shutting down");
      await Promise.all(open.map((s) => s.done));
      await closed;
    },
  };
}

/** An address as both ends of a connection name it (no IPv4-mapped prefix, lower case). */
function peerHost(address: string | undefined): string {
  const a = (address ?? "").toLowerCase();
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** `--write-timeout` from the server's options, once the server has it; 10 s until then. */
function writeTimeoutOf(server: Server): number {
  const value: unknown = (server.options as object as Record<string, unknown>)["writeTimeoutMs"];
  return typeof value === "number" && value > 0 ? value : 10_000;
}

function reply(req: http.IncomingMessage, res: http.ServerResponse, r: Reply): void {
  const body = encoder.encode(r.body ?? "");
  res.writeHead(r.status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...r.headers,
    "content-length": String(body.length),
    ...(r.close ? { connection: "close" } : {}),
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** A whole response as bytes, for a connection node:http does not answer on (it is closed after). */
function responseBytes(r: Reply): Uint8Array {
  const body = encoder.encode(r.body ?? "");
  const headers: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...r.headers,
    "content-length": String(body.length),
    connection: "close",
  };
  let text = `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? ""}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  const head = encoder.encode(`${text}\r\n`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}
