/**
 * The router's figures for the status page and for Prometheus.
 *
 * @module
 */

import { ERROR_CODES, type ErrorCode } from "../router/error_code.ts";
import type { Server } from "../server/server.ts";

/** A snapshot of the router, as the status page and /status.json show it. */
export interface Status {
  version: string;
  uptimeSeconds: number;
  listeners: { framing: string; address: string }[];
  connections: Record<"length-prefix" | "slip" | "websocket", number>;
  groups: { name: string; users: string[] }[];
  users: number;
  totals: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number };
  /** Per second, over the last sampling interval. */
  rates: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number };
  slowConsumers: number;
  refusedConnections: number;
  queuedBytes: number;
  errors: Record<ErrorCode, number>;
}

/**
 * Takes snapshots and keeps the per-second rates between two of them.
 *
 * @example
 * ```ts ignore
 * const sampler = new StatusSampler(server, "1.0.0", listeners);
 * const status = sampler.sample(); // call about once a second
 * ```
 */
export class StatusSampler {
  #server: Server;
  #version: string;
  #listeners: Status["listeners"];
  #last: { at: number; packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number };
  #rates: Status["rates"] = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 };

  /** Bytes queued outside the TCP server (WebSocket sessions, event streams). */
  #otherQueuedBytes: () => number;

  /**
   * @param server the running server
   * @param version the version to show
   * @param listeners every listening address, for the page
   * @param otherQueuedBytes bytes queued to clients the server does not hold (WebSocket, event streams)
   */
  constructor(
    server: Server,
    version: string,
    listeners: Status["listeners"],
    otherQueuedBytes: () => number = () => 0,
  ) {
    this.#otherQueuedBytes = otherQueuedBytes;
    this.#server = server;
    this.#version = version;
    this.#listeners = listeners;
    const c = server.router.counters;
    this.#last = { at: performance.now(), ...pick(c) };
  }

  /**
   * Updates the rates (since the previous call) and returns a snapshot.
   *
   * @returns the snapshot
   */
  sample(): Status {
    const now = performance.now();
    const totals = pick(this.#server.router.counters);
    const seconds = (now - this.#last.at) / 1000;
    if (seconds > 0.2) {
      const rate = (k: keyof typeof totals) => Math.round((totals[k] - this.#last[k]) / seconds);
      this.#rates = {
        packetsIn: rate("packetsIn"),
        packetsOut: rate("packetsOut"),
        bytesIn: rate("bytesIn"),
        bytesOut: rate("bytesOut"),
      };
      this.#last = { at: now, ...totals };
    }
    return this.snapshot();
  }

  /**
   * A snapshot with the rates of the last `sample` call.
   *
   * @returns the snapshot
   */
  snapshot(): Status {
    const server = this.#server;
    return {
      version: this.#version,
      uptimeSeconds: Math.round((Date.now() - server.startedAt) / 1000),
      listeners: this.#listeners,
      connections: server.connectionsByFraming(),
      groups: server.router.snapshot(),
      users: server.router.userCount,
      totals: pick(server.router.counters),
      rates: this.#rates,
      slowConsumers: server.slowConsumers,
      refusedConnections: server.refusedConnections,
      queuedBytes: server.pendingBytes + this.#otherQueuedBytes(),
      errors: { ...server.router.counters.errors },
    };
  }
}

function pick(c: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number }) {
  return { packetsIn: c.packetsIn, packetsOut: c.packetsOut, bytesIn: c.bytesIn, bytesOut: c.bytesOut };
}

/**
 * The snapshot in the Prometheus text exposition format.
 *
 * @param s a snapshot
 * @returns the text for /metrics
 *
 * @example
 * ```ts ignore
 * const text = prometheusText(sampler.snapshot());
 * ```
 */
export function prometheusText(s: Status): string {
  const lines: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, samples: [string, number][]) => {
    lines.push(`# HELP tcposcrouter_${name} ${help}`, `# TYPE tcposcrouter_${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`tcposcrouter_${name}${labels} ${value}`);
  };
  metric("uptime_seconds", "gauge", "Seconds since the router started.", [["", s.uptimeSeconds]]);
  metric(
    "connections",
    "gauge",
    "Open connections by transport.",
    Object.entries(s.connections).map(([framing, n]) => [`{framing="${framing}"}`, n]),
  );
  metric("groups", "gauge", "Groups with at least one user.", [["", s.groups.length]]);
  metric("users", "gauge", "Users over all groups.", [["", s.users]]);
  metric("packets_received_total", "counter", "Packets received from clients.", [["", s.totals.packetsIn]]);
  metric("packets_sent_total", "counter", "Packets sent to clients (one per recipient).", [["", s.totals.packetsOut]]);
  metric("bytes_received_total", "counter", "Bytes of the packets received.", [["", s.totals.bytesIn]]);
  metric("bytes_sent_total", "counter", "Bytes of the packets sent.", [["", s.totals.bytesOut]]);
  metric("slow_consumers_total", "counter", "Clients cut off for falling behind.", [["", s.slowConsumers]]);
  metric("refused_connections_total", "counter", "Connections refused with server_full.", [[
    "",
    s.refusedConnections,
  ]]);
  metric("queued_bytes", "gauge", "Bytes waiting to be written to clients.", [["", s.queuedBytes]]);
  metric(
    "errors_total",
    "counter",
    "Error replies sent, by code.",
    ERROR_CODES.map((code) => [`{code="${code}"}`, s.errors[code]]),
  );
  return lines.join("\n") + "\n";
}
