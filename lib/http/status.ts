/**
 * The router's figures for the status page and for Prometheus.
 *
 * @module
 */

import type { ClusterStatus } from "../cluster/nats_cluster.ts";
import { ERROR_CODES, type ErrorCode } from "../protocol/error_code.ts";
import type { RouterEventKind } from "../router/event_log.ts";
import type { Session } from "../router/session.ts";
import type { Server } from "../server/server.ts";
import {
  type ConnectInfo,
  connectInfo,
  connectLines,
  type InterfaceAddress,
  readInterfaceAddresses,
} from "../net/interfaces.ts";

/** Connections listed one by one on the status page; the total says how many there are. */
const MAX_LISTED_CONNECTIONS = 500;
/** How long the interface addresses are kept before they are read again. */
const INTERFACES_REFRESH_MS = 30_000;

/** One connection, as the status page lists it (after NATS's `/connz`). */
export interface ConnectionStatus {
  /** "user@group", or null before the connection registers. */
  who: string | null;
  /** The client's address and port. */
  address: string;
  /** The client's framing (detected from its first byte), or "websocket". */
  framing: "length-prefix" | "slip" | "websocket";
  /** When it connected (ISO 8601). */
  connectedAt: string | null;
  /** When its last packet came (ISO 8601; within one sampling interval), or null before the first. */
  lastPacketAt: string | null;
  /** Packets it sent. */
  packetsIn: number;
  /** Bytes it sent. */
  bytesIn: number;
  /** Packets per second it sent over the last sampling interval. */
  packetsPerSecond: number;
  /** Bytes waiting to be written to it. */
  queuedBytes: number;
}

/** One recent event. */
export interface EventStatus {
  /** When (ISO 8601). */
  at: string;
  /** What happened. */
  kind: RouterEventKind;
  /** "user@group", or null when not known. */
  who: string | null;
  /** The client's address and port. */
  address: string;
  /** The error code or cause, or null. */
  reason: string | null;
}

/** A snapshot of the router, as the status page and /status.json show it. */
export interface Status {
  /** The router's version. */
  version: string;
  /** Seconds since the router started. */
  uptimeSeconds: number;
  /** Every listening port, with what it speaks. */
  listeners: { framing: string; address: string }[];
  /** Open connections by framing. */
  connections: Record<"length-prefix" | "slip" | "websocket", number>;
  /** Every group with its users. */
  groups: { name: string; users: string[] }[];
  /** Users in all groups. */
  users: number;
  /** Packets and bytes since the start. */
  totals: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number };
  /** Per second, over the last sampling interval. */
  rates: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number };
  /** Clients cut off as slow consumers since the start. */
  slowConsumers: number;
  /** Connections refused since the start. */
  refusedConnections: number;
  /** Bytes waiting to be written to clients. */
  queuedBytes: number;
  /** Errors sent to clients since the start, by code. */
  errors: Record<ErrorCode, number>;
  /** Where musicians connect, and the status page's address. */
  connect: ConnectInfo & { lines: string[] };
  /** The first {@link MAX_LISTED_CONNECTIONS} connections, oldest first. */
  connectionList: ConnectionStatus[];
  /** How many connections there are in all (the list may be cut). */
  connectionTotal: number;
  /** Recent events, newest first. */
  events: EventStatus[];
  /** The cluster this instance belongs to (`--cluster`). */
  cluster?: ClusterStatus;
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
  /** Each session's packet count when its rate was last taken, and when its count last changed. */
  #seen = new WeakMap<Session, { at: number; packets: number; rate: number; lastPacketAt: number | undefined }>();
  #connectionList: ConnectionStatus[] = [];
  #http: { hostname: string; port: number } | undefined;
  #interfaces: { at: number; addresses: InterfaceAddress[] | undefined } | undefined;
  #readInterfaces: () => InterfaceAddress[] | undefined = readInterfaceAddresses;
  #cluster: (() => ClusterStatus) | undefined;

  /** Bytes queued outside the TCP server (WebSocket sessions, event streams). */
  #otherQueuedBytes: () => number;

  /**
   * A sampler of `server`.
   *
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
   * The HTTP port, for the status page's address in {@link Status.connect}.
   *
   * @param hostname the address the HTTP port listens on
   * @param port the HTTP port
   * @param readInterfaces this machine's addresses (tests give their own)
   */
  setHttp(
    hostname: string,
    port: number,
    readInterfaces: () => InterfaceAddress[] | undefined = readInterfaceAddresses,
  ): void {
    this.#http = { hostname, port };
    this.#readInterfaces = readInterfaces;
    this.#interfaces = undefined;
  }

  /**
   * Shows the cluster (`--cluster`) on the page and in /metrics.
   *
   * @param cluster returns the cluster's state
   */
  setCluster(cluster: () => ClusterStatus): void {
    this.#cluster = cluster;
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
    this.#connectionList = this.#listConnections();
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
      connect: this.#connect(),
      connectionList: this.#connectionList,
      connectionTotal: server.connectionCount,
      events: server.router.events.recent().map((e) => ({
        at: new Date(e.at).toISOString(),
        kind: e.kind,
        who: e.who ?? null,
        address: e.address,
        reason: e.reason ?? null,
      })),
      ...(this.#cluster ? { cluster: this.#cluster() } : {}),
    };
  }

  #connect(): Status["connect"] {
    const now = Date.now();
    if (this.#interfaces === undefined || now - this.#interfaces.at > INTERFACES_REFRESH_MS) {
      this.#interfaces = { at: now, addresses: this.#readInterfaces() };
    }
    const listening = this.#server.listening;
    const info = connectInfo(
      {
        hostname: listening[0]?.hostname ?? this.#server.options.hostname,
        lengthPrefixPort: listening.find((l) => l.framing === "length-prefix")?.port,
        slipPort: listening.find((l) => l.framing === "slip")?.port,
      },
      this.#http,
      this.#interfaces.addresses,
    );
    return { ...info, lines: connectLines(info) };
  }

  /**
   * The first connections with their figures. The rate is over the time since the previous
   * sample; the last packet's time is when the count was first seen to change (the router reads
   * no clock per packet), so it is late by at most one sampling interval.
   */
  #listConnections(): ConnectionStatus[] {
    const now = Date.now();
    const { router } = this.#server;
    const list: ConnectionStatus[] = [];
    for (const session of this.#server.sessions()) {
      if (list.length >= MAX_LISTED_CONNECTIONS) break;
      const traffic = router.traffic.of(session);
      let seen = this.#seen.get(session);
      if (seen === undefined) {
        seen = { at: session.connectedAt ?? now, packets: 0, rate: 0, lastPacketAt: undefined };
        this.#seen.set(session, seen);
      }
      if (traffic.packetsIn !== seen.packets) seen.lastPacketAt = now;
      const seconds = (now - seen.at) / 1000;
      if (seconds > 0.2) {
        seen.rate = (traffic.packetsIn - seen.packets) / seconds;
        seen.at = now;
        seen.packets = traffic.packetsIn;
      }
      list.push({
        who: router.describe(session) ?? null,
        address: session.peer,
        framing: session.framing,
        connectedAt: session.connectedAt === undefined ? null : new Date(session.connectedAt).toISOString(),
        lastPacketAt: seen.lastPacketAt === undefined ? null : new Date(seen.lastPacketAt).toISOString(),
        packetsIn: traffic.packetsIn,
        bytesIn: traffic.bytesIn,
        packetsPerSecond: Math.round(seen.rate * 10) / 10,
        queuedBytes: session.pendingBytes ?? 0,
      });
    }
    return list;
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
  if (s.cluster !== undefined) {
    const c = s.cluster;
    metric("cluster_connected", "gauge", "1 when connected to NATS, else 0.", [["", c.state === "connected" ? 1 : 0]]);
    metric("cluster_instances", "gauge", "Live instances of the cluster, this one included.", [[
      "",
      c.instances.filter((i) => i.live).length,
    ]]);
    metric("cluster_users", "gauge", "Users over the whole cluster.", [["", c.users.length]]);
    metric("cluster_published_total", "counter", "Packets published to NATS.", [["", c.published]]);
    metric("cluster_received_total", "counter", "Packets received from NATS.", [["", c.received]]);
    metric("cluster_publish_errors_total", "counter", "Publishes to NATS that failed.", [["", c.publishErrors]]);
    metric("cluster_disconnects_total", "counter", "Times the connection to NATS was lost.", [["", c.disconnects]]);
  }
  return lines.join("\n") + "\n";
}
