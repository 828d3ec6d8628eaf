/**
 * Bridge mode: brings a UDP-only OSC app into a router group. It holds one TCP connection to
 * a router, registered as one user, and relays packets byte for byte: UDP in -> group, group
 * -> UDP out. It reconnects with exponential backoff and re-registers when the connection
 * drops, queueing the app's packets within a bound meanwhile.
 *
 * @module
 */

import dgram from "node:dgram";
import { getLogger } from "@logtape/logtape";
import { RegisterError, RouterClient } from "../client/router_client.ts";
import type { Framing } from "../framing/detect.ts";
import { OscDecodeError } from "../osc/errors.ts";
import { scanPacket } from "../osc/validate.ts";
import { errorPacket } from "../protocol/replies.ts";
import { formatHostPort } from "../net/address.ts";
import { errorMessage } from "../util/error_text.ts";
import { WarningLimiter } from "../util/warning_limiter.ts";
import { type SourceFilter, sourceFilter } from "./source_filter.ts";

const logger = getLogger(["tcposcrouter", "bridge"]);

/** The largest payload of one UDP datagram over IPv4. */
export const MAX_UDP_PAYLOAD_BYTES = 65507;

/** Bytes written to the router but not yet taken by the kernel, beyond which the connection is dropped. */
const MAX_ROUTER_QUEUE_BYTES = 16 * 1024 * 1024;

/** A host and a port. */
export interface Endpoint {
  /** A host name or an address. */
  hostname: string;
  /** A port. */
  port: number;
}

/** Bridge settings. */
export interface BridgeOptions {
  /** The router's address and port. */
  server: Endpoint;
  /** The framing of the router's port. */
  framing: Framing;
  /** The user name the bridge registers as. */
  user: string;
  /** That user's password. */
  userPassword: string;
  /** The group the bridge joins. */
  group: string;
  /** That group's password. */
  groupPassword: string;
  /** Where the bridge receives the app's packets. */
  listenUdp: Endpoint;
  /** Where the bridge sends the group's packets (the app's receive port). */
  sendUdp: Endpoint;
  /**
   * Source addresses (or host names) whose datagrams are relayed, or `["any"]`; undefined: only
   * the `sendUdp` host (any loopback address when it is loopback). Others are dropped and counted.
   */
  allowUdpFrom?: string[];
  /** Bytes of the app's packets kept while disconnected; more are dropped and counted. */
  maxQueueBytes: number;
  /** First reconnect delay; it doubles on each failure up to `maxBackoffMs`. */
  initialBackoffMs: number;
  /** The longest reconnect delay. */
  maxBackoffMs: number;
}

/** What the bridge counts. */
export interface BridgeCounters {
  /** Datagrams received from the app. */
  udpIn: number;
  /** Datagrams sent to the app. */
  udpOut: number;
  /** App packets dropped because the queue was full while disconnected. */
  droppedWhileDisconnected: number;
  /** App packets that were not valid OSC (answered with /oscrouter/error, not sent). */
  malformed: number;
  /** Group packets too large for one UDP datagram (dropped). */
  tooLargeForUdp: number;
  /** Successful registrations (1 + reconnections). */
  registrations: number;
  /** Datagrams dropped because their source is not allowed (`--allow-udp-from`). */
  droppedFromOtherSources: number;
}

/**
 * Register refusals that retrying cannot fix: the bridge stops on them instead of retrying
 * forever, but only if it has not joined yet in this run (a password or name the operator
 * mistyped). After it has joined once, the same refusals are retried with the usual backoff:
 * after a router restart, someone else may have registered the group (or the name) with
 * another password while the bridge waited to reconnect, and must not keep it down for good.
 * (`server_full`, `too_many_connections`, `server_busy` and the like may pass, so those are
 * always retried.)
 */
const FATAL_REGISTER_ERRORS: ReadonlySet<string> = new Set([
  "wrong_user_password",
  "wrong_group_password",
  "invalid_name",
  "bad_register",
  "unknown_group",
]);

/** Why the router refused the bridge for good: its error code and sentence. */
export interface BridgeRefusal {
  /** The router's error code. */
  code: string;
  /** The router's sentence: what went wrong and what to do. */
  message: string;
}

/** The bridge's connection state. */
export type BridgeState = "connecting" | "registering" | "joined" | "waiting" | "refused" | "stopped";

/**
 * A running bridge.
 *
 * @example
 * ```ts ignore
 * const bridge = await Bridge.start({ server: { hostname: "venue.example.org", port: 55555 }, framing: "length-prefix",
 *   user: "touchosc", userPassword, group: "band", groupPassword,
 *   listenUdp: { hostname: "127.0.0.1", port: 57130 }, sendUdp: { hostname: "127.0.0.1", port: 57120 },
 *   maxQueueBytes: 1 << 20, initialBackoffMs: 500, maxBackoffMs: 30_000 });
 * ```
 */
export class Bridge {
  /** What the bridge has counted since it started. */
  readonly counters: BridgeCounters = {
    udpIn: 0,
    udpOut: 0,
    droppedWhileDisconnected: 0,
    malformed: 0,
    tooLargeForUdp: 0,
    registrations: 0,
    droppedFromOtherSources: 0,
  };
  #sources: SourceFilter;
  #dropLog = new WarningLimiter({ burst: 5, perSecond: 0.1 });
  #options: BridgeOptions;
  #udp: dgram.Socket;
  #state: BridgeState = "connecting";
  #client: RouterClient | undefined;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #refused = Promise.withResolvers<BridgeRefusal>();
  /** Called on every change of state (tests wait on it). */
  onState: (state: BridgeState) => void = () => {};

  private constructor(options: BridgeOptions, udp: dgram.Socket, sources: SourceFilter) {
    this.#options = options;
    this.#udp = udp;
    this.#sources = sources;
  }

  /**
   * Binds the UDP port and starts connecting to the router.
   *
   * @param options settings
   * @returns the running bridge
   */
  static async start(options: BridgeOptions): Promise<Bridge> {
    const sources = await sourceFilter(options.allowUdpFrom, options.sendUdp.hostname);
    const udp = dgram.createSocket(options.listenUdp.hostname.includes(":") ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(options.listenUdp.port, options.listenUdp.hostname, () => {
        udp.off("error", reject);
        resolve();
      });
    });
    const bridge = new Bridge(options, udp, sources);
    udp.on("message", (msg: Uint8Array, from: { address: string; port: number }) => {
      if (!sources.allows(from.address)) return bridge.#dropForeign(from);
      bridge.#fromApp(new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
    });
    udp.on("error", (error: Error) => logger.warn("UDP error: {error}", { error: error.message }));
    logger.info("Bridge listening for the app on UDP {listen} (accepting from {sources}), sending to UDP {send}", {
      listen: formatHostPort(options.listenUdp.hostname, options.listenUdp.port),
      sources: sources.description,
      send: formatHostPort(options.sendUdp.hostname, options.sendUdp.port),
    });
    bridge.#loop = bridge.#run();
    return bridge;
  }

  /**
   * Settles when the router refuses the register for good (a code in `FATAL_REGISTER_ERRORS`,
   * such as a wrong password, before the bridge has ever joined in this run): the bridge has then
   * stopped retrying and waits for `stop()`. It never settles otherwise.
   */
  get refused(): Promise<BridgeRefusal> {
    return this.#refused.promise;
  }

  /** The current state. */
  get state(): BridgeState {
    return this.#state;
  }

  /** The UDP port the bridge listens on (useful when 0 was asked). */
  get udpPort(): number {
    return this.#udp.address().port;
  }

  /** Stops: closes the TCP connection and the UDP socket. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#closeConn();
    await this.#loop;
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    this.#setState("stopped");
  }

  #setState(state: BridgeState): void {
    this.#state = state;
    this.onState(state);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      const { server } = this.#options;
      this.#setState("connecting");
      try {
        const client = await RouterClient.connect({
          hostname: server.hostname,
          port: server.port,
          framing: this.#options.framing,
          maxPacketBytes: 16 * 1024 * 1024,
          keepAlive: true,
        });
        if (this.#stopped) {
          client.close();
          await client.closed;
          break;
        }
        this.#client = client;
        logger.info("Connected to the router at {server}", { server: formatHostPort(server.hostname, server.port) });
        await this.#session(client, () => failures = 0);
      } catch (error) {
        if (!this.#stopped) {
          logger.warn("Connection to the router at {server} failed: {error}", {
            server: formatHostPort(server.hostname, server.port),
            error: errorMessage(error),
          });
        }
      }
      this.#closeConn();
      if (this.#stopped) break;
      const { initialBackoffMs, maxBackoffMs } = this.#options;
      const delay = Math.min(maxBackoffMs, initialBackoffMs * 2 ** failures++) * (0.75 + Math.random() / 4);
      logger.info("Not connected to the router; retrying in {seconds} s (packets queued: {queued})", {
        seconds: (delay / 1000).toFixed(1),
        queued: this.#queue.length,
      });
      this.#setState("waiting");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** One connection: register, then relay until it closes; its writes end with it. */
  async #session(client: RouterClient, onJoined: () => void): Promise<void> {
    try {
      await this.#relay(client, onJoined);
    } finally {
      client.close();
      await client.closed; // no write outlives the connection
    }
  }

  async #relay(client: RouterClient, onJoined: () => void): Promise<void> {
    const o = this.#options;
    client.onPacket = (packet) => this.#toApp(packet);
    client.onFramingError = (error) => logger.warn("Bad frame from the router: {error}", { error: error.message });
    this.#setState("registering");
    try {
      await client.register({ user: o.user, password: o.userPassword, group: o.group, groupPassword: o.groupPassword });
    } catch (error) {
      if (!(error instanceof RegisterError)) throw error;
      const refusal = { code: error.code, message: error.reason };
      if (FATAL_REGISTER_ERRORS.has(refusal.code) && this.counters.registrations > 0) {
        // It joined with these settings before: someone may hold the group or name since the
        // router restarted. Retry with backoff rather than stay down for good.
        logger.error(
          "The router refused {user}@{group}: {code}: {message}; the bridge joined with the same settings before, so someone else may hold the group or name now; retrying",
          { user: o.user, group: o.group, code: refusal.code, message: refusal.message },
        );
        return;
      }
      if (FATAL_REGISTER_ERRORS.has(refusal.code)) {
        // Retrying cannot fix a wrong password or name: stop, and let the caller say so.
        logger.error("The router refused {user}@{group}: {code}: {message}", {
          user: o.user,
          group: o.group,
          code: refusal.code,
          message: refusal.message,
        });
        this.#stopped = true;
        this.#setState("refused");
        this.#refused.resolve(refusal);
        return;
      }
      if (error.code !== "closed") {
        logger.warn("The router refused the register: {reply}", {
          reply: `/oscrouter/error ${error.code} | ${error.reason} | ${error.context}`,
        });
      }
      await client.closed; // the router closes after a refusal
      return;
    }
    this.counters.registrations++;
    logger.info("Registered as {user}@{group}; relaying", { user: o.user, group: o.group });
    this.#setState("joined");
    onJoined();
    this.#flushQueue();
    await client.closed;
  }

  #sendToRouter(packet: Uint8Array): void {
    const client = this.#client;
    if (client === undefined) return;
    client.sendPacket(packet).catch(() => this.#closeConn());
    // The router stopped taking what the app sends: drop the connection, as a full outbox did.
    if (client.pendingBytes > MAX_ROUTER_QUEUE_BYTES) this.#closeConn();
  }

  #dropForeign(from: { address: string; port: number }): void {
    this.counters.droppedFromOtherSources++;
    const suppressed = this.#dropLog.take();
    if (suppressed < 0) return;
    logger.warn(
      "Dropped a datagram from {source}: only {allowed} may send through the bridge (widen with --allow-udp-from); {count} dropped so far",
      {
        source: formatHostPort(from.address, from.port),
        allowed: this.#sources.description,
        count: this.counters.droppedFromOtherSources,
      },
    );
  }

  #fromApp(packet: Uint8Array): void {
    this.counters.udpIn++;
    try {
      scanPacket(packet);
    } catch (error) {
      if (!(error instanceof OscDecodeError)) throw error;
      // The same treatment as on the router's ports: an error reply, and nothing forwarded.
      this.counters.malformed++;
      this.#toApp(errorPacket(
        "malformed_packet",
        `Packet is not valid OSC: ${error.message}; it was not forwarded`,
        "",
      ));
      return;
    }
    if (this.#state === "joined") {
      this.#sendToRouter(packet);
      return;
    }
    if (this.#queuedBytes + packet.length > this.#options.maxQueueBytes) {
      this.counters.droppedWhileDisconnected++;
      if (this.counters.droppedWhileDisconnected % 100 === 1) {
        logger.warn("Not connected and the queue is full: packets dropped so far: {count}", {
          count: this.counters.droppedWhileDisconnected,
        });
      }
      return;
    }
    this.#queue.push(packet.slice());
    this.#queuedBytes += packet.length;
  }

  #flushQueue(): void {
    for (const packet of this.#queue) this.#sendToRouter(packet);
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  #toApp(packet: Uint8Array): void {
    if (packet.length > MAX_UDP_PAYLOAD_BYTES) {
      this.counters.tooLargeForUdp++;
      logger.warn("Dropped a {size}-byte packet from the group: larger than a UDP datagram can carry", {
        size: packet.length,
      });
      return;
    }
    this.counters.udpOut++;
    const { port, hostname } = this.#options.sendUdp;
    this.#udp.send(packet, port, hostname);
  }

  #closeConn(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}
