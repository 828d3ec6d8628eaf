/**
 * The optional HTTP port (`--http-port`): a live status page, Prometheus metrics, a health
 * check, and WebSocket clients on the same router.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import webClientPage from "../../examples/web/index.html" with { type: "text" };
import { addressKey, formatPeerAddress } from "../net/address.ts";
import type { Server } from "../server/server.ts";
import statusPage from "./status.html" with { type: "text" };
import { prometheusText, StatusSampler } from "./status.ts";
import { WebSocketSession } from "./websocket_session.ts";

const logger = getLogger(["tcposcrouter", "http"]);

/** Where to listen. */
export interface HttpOptions {
  hostname: string;
  port: number;
  version: string;
}

/** A running HTTP server. */
export interface HttpServer {
  /** The port (resolved when 0 was asked). */
  port: number;
  /** Closes live event streams and WebSockets, then the listener. */
  shutdown(): Promise<void>;
}

const SAMPLE_MS = 1000;

/**
 * Starts the HTTP port.
 *
 * @param server the router's server (for its figures and its router)
 * @param options where to listen
 * @returns the running HTTP server
 * @throws {Deno.errors.AddrInUse} when the port is taken
 */
export function startHttp(server: Server, options: HttpOptions): HttpServer {
  const listeners = server.listening.map((l) => ({
    framing: l.framing === "slip" ? "OSC 1.1 (SLIP)" : "OSC 1.0 (length prefix)",
    address: `${l.hostname.includes(":") ? `[${l.hostname}]` : l.hostname}:${l.port}`,
  }));
  // The HTTP address is added once the port is known (it may be 0 here).
  const sampler = new StatusSampler(server, options.version, listeners);
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const encoder = new TextEncoder();
  let latest = sampler.sample();
  const timer = setInterval(() => {
    latest = sampler.sample();
    const event = encoder.encode(`data: ${JSON.stringify(latest)}\n\n`);
    for (const controller of streams) controller.enqueue(event);
  }, SAMPLE_MS);

  const handler = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response => {
    const { pathname } = new URL(request.url);
    switch (pathname) {
      case "/":
        return new Response(statusPage, { headers: { "content-type": "text/html; charset=utf-8" } });
      case "/status.json":
        return Response.json(latest);
      case "/events": {
        let self: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            self = controller;
            streams.add(controller);
            controller.enqueue(encoder.encode(`retry: 2000\ndata: ${JSON.stringify(latest)}\n\n`));
          },
          cancel() {
            streams.delete(self);
          },
        });
        return new Response(body, {
          headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
        });
      }
      case "/metrics":
        return new Response(prometheusText(sampler.snapshot()), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "/healthz":
        return new Response("ok\n");
      case "/client":
      case "/client/":
        return new Response(webClientPage, { headers: { "content-type": "text/html; charset=utf-8" } });
      case "/osc":
        return upgrade(request, info.remoteAddr);
      default:
        return new Response("Not found: try /, /metrics, /healthz, /client or /osc\n", { status: 404 });
    }
  };

  const upgrade = (request: Request, remote: Deno.NetAddr): Response => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("/osc is a WebSocket endpoint: one binary message per OSC packet\n", { status: 426 });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const { maxPacketBytes, maxQueueBytes, registerTimeoutMs } = server.options;
    const peer = formatPeerAddress(remote.hostname, remote.port);
    const session = new WebSocketSession(socket, peer, addressKey(remote.hostname), {
      router: server.router,
      maxPacketBytes,
      maxQueueBytes,
      registerTimeoutMs,
      onClosed: (s) => server.release(s),
      onSlowConsumer: () => server.slowConsumers++,
    });
    const refusal = server.admit(session);
    if (refusal !== undefined) {
      socket.addEventListener("open", () => {
        server.router.sendError(session, refusal);
        session.close("server_full");
      });
    }
    return response;
  };

  const http = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
  }, handler);
  const address = `${options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname}:${http.addr.port}`;
  listeners.push({ framing: "HTTP: this page, /metrics, WebSocket /osc", address });
  logger.info("HTTP status page, /metrics and WebSocket /osc on {address}", { address });
  return {
    port: http.addr.port,
    async shutdown() {
      clearInterval(timer);
      for (const controller of streams) controller.close();
      streams.clear();
      await http.shutdown();
    },
  };
}
