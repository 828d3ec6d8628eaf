/**
 * Several router instances as one, on NATS (`--cluster`): adapts the sans-I/O router's
 * {@link ClusterLink} hooks to a NATS connection. Shared state (groups and users with their
 * password verifiers, which instance holds which user, heartbeats) lives in a JetStream
 * key-value bucket named after the cluster; packets travel on one subject per group and one
 * per user. The NATS client is imported only when `--cluster` is given.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Bucket, KV, KvWatchEntry } from "@nats-io/kv";
import type { ConnectionOptions, NatsConnection, Subscription } from "@nats-io/transport-node";
import { FairSlots, type SlotRefusal } from "../access/fair_slots.ts";
import { hashPassword, verifyPassword } from "../access/password_hash.ts";
import { ProtocolError } from "../protocol/error_code.ts";
import type { ClusterLink } from "../router/cluster_link.ts";
import { REGISTER_ADDRESS } from "../protocol/names.ts";
import type { RegisterRequest } from "../router/register.ts";
import type { Router } from "../router/router.ts";
import { Secret } from "../router/secret.ts";
import { type BucketEntry, type ClusterSnapshot, ClusterView, decodeName, encodeName } from "./cluster_view.ts";

const logger = getLogger(["tcposcrouter", "cluster"]);

/** The scrypt cost of the verifiers put in the bucket: N = 2^14, r = 8, p = 1 (16 MiB, tens of ms). */
export const CLUSTER_SCRYPT_COST = { ln: 14, r: 8, p: 1 } as const;

/** How to reach NATS and who this cluster is. */
export interface ClusterOptions {
  /** NATS server URLs (`nats://host:port`; `tls://` for TLS). */
  servers: string[];
  /** The cluster's name: its bucket and subjects; several clusters may share one NATS. */
  name: string;
  /** A NATS credentials file (JWT and NKey seed), read at start. */
  credsFile?: string | undefined;
  /** NATS user (from the environment). */
  user?: string | undefined;
  /** NATS password (from the environment). */
  password?: string | undefined;
  /** NATS token (from the environment). */
  token?: string | undefined;
  /** A CA certificate file to trust for `tls://` servers. */
  caFile?: string | undefined;
  /** Copies of the bucket in a NATS cluster (1 for one server; 3 for a three-node NATS cluster). */
  replicas?: number;
  /** How often this instance says it is alive (ms, default 1000). */
  heartbeatMs?: number;
  /** An instance silent for this long is dead: its users leave (ms, default 3000). */
  deadAfterMs?: number;
  /** How long a register waits for NATS before it is decided without it (ms, default 2000). */
  claimWaitMs?: number;
  /** The verifiers' scrypt cost (default {@link CLUSTER_SCRYPT_COST}). */
  scryptCost?: { ln: number; r: number; p: number };
  /**
   * Hashes one address may have running or waiting (default 8); the router gives its
   * `--max-unregistered-per-address`, since each is a connection not registered yet.
   */
  maxHashesPerAddress?: number;
}

/** The cluster as the status page and /metrics show it. */
export interface ClusterStatus {
  /** The cluster's name. */
  name: string;
  /** This instance's id. */
  instance: string;
  /** "connected", "connecting" (never connected yet) or "disconnected" (reconnecting). */
  state: "connected" | "connecting" | "disconnected";
  /** The NATS server this instance is connected to, or null. */
  server: string | null;
  /** Every instance this one knows, itself included, and whether it is alive. */
  instances: ClusterSnapshot["instances"];
  /** Every user of the cluster and the instances it is connected to. */
  users: ClusterSnapshot["users"];
  /** Packets published to NATS. */
  published: number;
  /** Packets received from NATS. */
  received: number;
  /** Publishes that failed. */
  publishErrors: number;
  /** Times the connection to NATS was lost. */
  disconnects: number;
}

/** The cluster cannot start as configured: its name is not one token, or its credentials file cannot be read. */
export class ClusterConfigError extends RangeError {
  /**
   * An error for a name that cannot be a NATS subject token, or another reason given.
   *
   * @param name the name given
   * @param message what is wrong, when it is not the name
   */
  constructor(name: string, message?: string) {
    super(
      message ??
        `Cluster name '${name}' must be 1 to 64 letters, digits, '-' or '_'; choose another with --cluster-name`,
    );
    this.name = "ClusterConfigError";
  }
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Slow hashes running at once (each scrypt holds 16 MiB); waiting ones are queued per address and
 * served round-robin (a flood from a few addresses cannot keep a musician from another out).
 * An address may have `maxHashesPerAddress` (default 8, the router gives its --max-unregistered-per-address)
 * running or waiting (a register needs one at a time): more get `too_many_attempts`;
 * past {@link MAX_HASH_WAITING_ADDRESSES} addresses waiting, `server_busy`.
 */
const MAX_HASHING = 4;
const MAX_HASHES_PER_ADDRESS = 8;
const MAX_HASH_WAITING_ADDRESSES = 256;
/** Passwords remembered as checked, over all verifiers; past this the memory is cleared. */
const MAX_KNOWN_VERIFIERS = 10_000;
/**
 * A removed key leaves a delete marker in the bucket's stream (one per name ever used: a flood of
 * distinct names would fill NATS's storage); markers older than this are purged, by sequence, so a
 * key created again meanwhile is kept. Long enough for every watch to have seen the removal.
 */
const TOMBSTONE_PURGE_MS = 5000;
/** Group and user keys without a holder for this many heartbeat timeouts are removed (an instance died mid-register). */
const ORPHAN_AFTER_DEAD_TIMES = 4;
/** Delete markers remembered for purging, at most (past this, the oldest are purged at once). */
const MAX_TOMBSTONES = 10_000;
/** At most one log line about failed publishes per this many ms. */
const PUBLISH_ERROR_LOG_MS = 10_000;

/** Too many slow hashes are running or waiting (from this address: `address_busy`). */
class HashingBusyError extends Error {
  constructor(readonly reason: SlotRefusal) {
    super(reason);
  }
}
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * One instance's link to the cluster.
 *
 * @example
 * ```ts ignore
 * const cluster = await NatsCluster.start({ servers: ["nats://127.0.0.1:4222"], name: "venue" });
 * const router = new Router({ cluster });
 * cluster.attach(router);
 * // ... on stop:
 * await cluster.stop();
 * ```
 */
export class NatsCluster implements ClusterLink {
  readonly #options: Required<Omit<ClusterOptions, "credsFile" | "user" | "password" | "token" | "caFile">>;
  #view: ClusterView;
  /** Stops the bucket's current watch. */
  #stopWatch: (() => void) | undefined;
  /** When the watch last delivered an entry (this instance's own heartbeat comes through it every second). */
  #lastWatchEntryAt = 0;
  readonly #id: string;
  #router: Router | undefined;
  #nc: NatsConnection | undefined;
  #kv: KV | undefined;
  #state: ClusterStatus["state"] = "connecting";
  #ready: Promise<void>;
  #timers: ReturnType<typeof setInterval>[] = [];
  #watchGeneration = 0;
  /** This instance's users: group -> users, with their subscriptions. */
  #local = new Map<
    string,
    { sub: Subscription | undefined; users: Map<string, Subscription | undefined>; list?: string }
  >();
  /** Verifiers this instance stored or checked, to put back if the bucket lost them. */
  #verifiers = new Map<string, string>();
  /** Passwords already checked against a verifier, by verifier: each is hashed once per process run. */
  #known = new Map<string, Secret[]>();
  #pending = new Set<Promise<unknown>>();
  #stopped = false;
  #counts = { published: 0, received: 0, publishErrors: 0, disconnects: 0 };
  #started = Date.now();
  #slots: FairSlots;
  #publishErrorLoggedAt = -Infinity;
  /** Delete markers seen in the watch: key -> [its sequence, when it was seen]. */
  #tombstones = new Map<string, [number, number]>();

  private constructor(options: ClusterOptions, id: string) {
    this.#options = {
      servers: options.servers,
      name: options.name,
      replicas: options.replicas ?? 1,
      heartbeatMs: options.heartbeatMs ?? 1000,
      deadAfterMs: options.deadAfterMs ?? 3000,
      claimWaitMs: options.claimWaitMs ?? 2000,
      scryptCost: options.scryptCost ?? CLUSTER_SCRYPT_COST,
      maxHashesPerAddress: options.maxHashesPerAddress ?? MAX_HASHES_PER_ADDRESS,
    };
    this.#slots = new FairSlots({
      concurrency: MAX_HASHING,
      maxWaitingAddresses: MAX_HASH_WAITING_ADDRESSES,
      maxPerAddress: this.#options.maxHashesPerAddress,
    });
    this.#id = id;
    this.#view = new ClusterView(id, { now: Date.now, deadAfterMs: this.#options.deadAfterMs });
    this.#ready = Promise.resolve();
  }

  /**
   * Connects to NATS (in the background if it is not reachable now: routing starts anyway).
   *
   * @param options servers, name and credentials
   * @returns the link, to give the router and then {@link attach} it
   * @throws {ClusterConfigError} for a name that is not one token
   */
  static async start(options: ClusterOptions): Promise<NatsCluster> {
    if (!NAME.test(options.name)) throw new ClusterConfigError(options.name);
    const id = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    const cluster = new NatsCluster(options, id);
    globalThis.addEventListener("error", cluster.#onSocketError);
    const { connect, credsAuthenticator } = await import("@nats-io/transport-node");
    const connectOptions: ConnectionOptions = {
      servers: options.servers,
      name: `tcposcrouter ${options.name} ${id}`,
      noEcho: true, // a packet is never delivered back to the instance that published it
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 2000,
      maxPingOut: 2,
      timeout: 2000,
    };
    if (options.credsFile !== undefined) {
      let creds: Uint8Array;
      try {
        creds = await Deno.readFile(options.credsFile);
      } catch (error) {
        const why = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
        throw new ClusterConfigError(
          options.name,
          `Cannot read --cluster-creds-file ${options.credsFile}: ${why}; give the NATS credentials file`,
        );
      }
      connectOptions.authenticator = credsAuthenticator(creds);
    }
    if (options.user !== undefined) connectOptions.user = options.user;
    if (options.password !== undefined) connectOptions.pass = options.password;
    if (options.token !== undefined) connectOptions.token = options.token;
    if (options.caFile !== undefined) connectOptions.tls = { caFile: options.caFile };
    cluster.#ready = (async () => {
      // The first connection is retried here (the client retries later ones by itself), so a
      // router started before NATS serves its own clients meanwhile and joins when NATS comes.
      for (let attempt = 0; !cluster.#stopped; attempt++) {
        try {
          return await cluster.#connected(await connect(connectOptions));
        } catch (error) {
          if (attempt === 0) logger.warn("Cannot connect to NATS: {error}; retrying", { error: String(error) });
          await delay(1000);
        }
      }
    })();
    await Promise.race([cluster.#ready.catch(() => {}), delay(cluster.#options.claimWaitMs)]);
    if (cluster.#state !== "connected") {
      logger.warn("NATS ({servers}) is not reachable yet: serving this instance's clients alone until it is", {
        servers: options.servers.join(","),
      });
    }
    cluster.#timers.push(setInterval(() => cluster.#heartbeat(), cluster.#options.heartbeatMs));
    cluster.#timers.push(setInterval(() => cluster.#sweep(), Math.max(100, cluster.#options.heartbeatMs / 2)));
    cluster.#timers.push(setInterval(() => cluster.#purgeTombstones(), TOMBSTONE_PURGE_MS));
    cluster.#timers.push(setInterval(() => cluster.#forgetOrphans(), cluster.#options.deadAfterMs));
    return cluster;
  }

  /**
   * The NATS client (transport-node) drops its socket's listeners before the socket is destroyed,
   * so a reset that arrives then (seen after NATS refused the credentials) is an uncaught error
   * that would end the router. The router's own sockets are Deno's, and node:http's have
   * listeners: a socket error nobody listens to is the NATS client's, and the client reconnects.
   */
  #onSocketError = (event: ErrorEvent): void => {
    const code = (event.error as { code?: unknown } | undefined)?.code;
    if (code !== "ECONNRESET" && code !== "EPIPE" && code !== "ECONNREFUSED") return;
    event.preventDefault();
    logger.warn("Cluster: the NATS connection's socket failed ({code}); the client reconnects", { code });
  };

  /**
   * The router that receives what other instances send.
   *
   * @param router the router this link was given to
   */
  attach(router: Router): void {
    this.#router = router;
  }

  /** This instance's id (12 hex digits, random per start). */
  get id(): string {
    return this.#id;
  }

  async #connected(nc: NatsConnection): Promise<void> {
    const { Kvm } = await import("@nats-io/kv");
    if (this.#stopped) {
      await nc.close();
      return;
    }
    const kvm = new Kvm(nc);
    try {
      this.#kv = await kvm.create(this.#options.name, { history: 1, replicas: this.#options.replicas });
    } catch (error) {
      await nc.close();
      throw error;
    }
    this.#nc = nc;
    nc.subscribe(`${this.#options.name}.hb`, {
      callback: (error, msg) => {
        if (error === null) this.#view.seen(utf8Decoder.decode(msg.data));
      },
    });
    for (const [group, local] of this.#local) {
      local.sub ??= this.#subscribe(`${this.#options.name}.g.${encodeName(group)}`, group, undefined);
      for (const [user, sub] of local.users) {
        if (sub === undefined) {
          local.users.set(
            user,
            this.#subscribe(`${this.#options.name}.u.${encodeName(group)}.${encodeName(user)}`, group, user),
          );
        }
      }
    }
    this.#state = "connected";
    logger.info("Cluster {name}: instance {id} connected to NATS {server}", {
      name: this.#options.name,
      id: this.#id,
      server: nc.getServer(),
    });
    void this.#watchStatus(nc);
    await this.#watch();
    this.#heartbeat();
    for (const [group, local] of this.#local) {
      for (const user of local.users.keys()) this.#track(this.#reassert(group, user));
    }
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        this.#counts.disconnects++;
        this.#state = "disconnected";
        logger.warn("Cluster {name}: lost NATS {server}; serving this instance's clients alone until it is back", {
          name: this.#options.name,
          server: status.server,
        });
      } else if (status.type === "reconnect") {
        this.#state = "connected";
        logger.info("Cluster {name}: NATS {server} is back; catching up", {
          name: this.#options.name,
          server: status.server,
        });
        this.#view.forgiveAll();
        this.#track(this.#catchUp());
      }
    }
  }

  /** Back on NATS: watch the bucket afresh and put back what this instance holds. */
  async #catchUp(): Promise<void> {
    await this.#watch();
    this.#heartbeat();
    for (const [group, local] of this.#local) {
      for (const user of local.users.keys()) await this.#reassert(group, user);
    }
  }

  /** Puts back a local user's keys (another instance removed them while this one was away). */
  async #reassert(group: string, user: string): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) return;
    const g = encodeName(group), u = encodeName(user);
    try {
      const groupVerifier = this.#verifiers.get(`g.${g}`);
      if (this.#view.group(group) === undefined && groupVerifier !== undefined) {
        await kv.create(`g.${g}`, JSON.stringify({ v: groupVerifier })).catch(() => {});
      }
      const userVerifier = this.#verifiers.get(`u.${g}.${u}`);
      if (this.#view.user(group, user) === undefined && userVerifier !== undefined) {
        await kv.create(`u.${g}.${u}`, JSON.stringify({ v: userVerifier })).catch(() => {});
      }
      await kv.put(`m.${g}.${u}.${this.#id}`, "");
    } catch (error) {
      logger.warn("Cluster: could not put back {user}@{group}: {error}", { user, group, error: String(error) });
    }
  }

  /**
   * (Re)starts the watch of the whole bucket, retrying until it starts (JetStream may be electing a
   * leader after a NATS node died); the view is rebuilt from the bucket's current values.
   */
  async #watch(): Promise<void> {
    const generation = ++this.#watchGeneration;
    this.#lastWatchEntryAt = Date.now(); // the watchdog in #sweep waits for this one
    for (let attempt = 0;; attempt++) {
      if (this.#stopped || generation !== this.#watchGeneration) return;
      try {
        return await this.#startWatch(generation);
      } catch (error) {
        if (attempt === 0) {
          logger.warn("Cluster: cannot watch the shared state yet: {error}; retrying", { error: String(error) });
        }
        await delay(500);
      }
    }
  }

  async #startWatch(generation: number): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) return;
    // The bucket's current values go into a fresh view, swapped in once they are all in: members
    // never see a user list shrink and grow back while the watch restarts.
    const fresh = new ClusterView(this.#id, { now: Date.now, deadAfterMs: this.#options.deadAfterMs });
    let swapped = false;
    const { promise: initialized, resolve } = Promise.withResolvers<void>();
    const watch = await kv.watch({ key: ">" });
    this.#stopWatch?.();
    this.#stopWatch = () => watch.stop();
    this.#lastWatchEntryAt = Date.now();
    if ((await kv.status()).values === 0) resolve();
    void (async () => {
      for await (const entry of watch) {
        if (generation !== this.#watchGeneration) {
          watch.stop();
          return;
        }
        this.#lastWatchEntryAt = Date.now();
        if (swapped) {
          this.#onEntry(entry);
        } else {
          fresh.apply(entry as BucketEntry);
          this.#noteTombstone(entry);
          if (entry.delta === 0) resolve(); // the last of the values the bucket held
        }
      }
    })().catch((error) => logger.warn("Cluster: the bucket's watch ended: {error}", { error: String(error) }))
      .then(() => {
        // Ended by itself (not replaced by a newer watch, not stopped): watch again.
        if (generation === this.#watchGeneration && !this.#stopped) this.#track(this.#watch());
      });
    await Promise.race([initialized, delay(this.#options.claimWaitMs)]);
    if (generation !== this.#watchGeneration) return;
    swapped = true;
    this.#view = fresh;
    for (const group of this.#local.keys()) this.#notify(group);
  }

  #onEntry(entry: KvWatchEntry): void {
    const changed = this.#view.apply(entry as BucketEntry);
    this.#noteTombstone(entry);
    const [kind, , , instance] = entry.key.split(".");
    if (kind === "m" && instance === this.#id && entry.operation !== "PUT") {
      // Another instance took this one for dead while it was cut off: put its users back.
      for (const [group, local] of this.#local) {
        for (const user of local.users.keys()) {
          if (`m.${encodeName(group)}.${encodeName(user)}.${this.#id}` === entry.key) {
            this.#track(this.#reassert(group, user));
          }
        }
      }
    }
    if ((kind === "g" || kind === "u") && entry.operation !== "PUT") this.#restore(entry.key);
    if (changed !== undefined) this.#notify(changed);
  }

  /**
   * A group's or user's key was removed while this instance holds members of it (another
   * instance's view had not seen them yet: its last member left there as one joined here, or
   * it took an instance for dead): it is put back, or a stranger could create it anew with a
   * password of its own and be admitted beside them.
   */
  #restore(key: string): void {
    const verifier = this.#verifiers.get(key);
    const kv = this.#kv;
    if (verifier === undefined || kv === undefined || this.#state !== "connected") return;
    const [, group, user] = key.split(".");
    try {
      if (
        user === undefined ? !this.#local.has(decodeName(group!)) : !this.#isLocal(decodeName(group!), decodeName(user))
      ) {
        return; // a register that checked it and then failed; nobody here holds it
      }
    } catch {
      return;
    }
    this.#track(kv.create(key, JSON.stringify({ v: verifier })).catch(() => {}));
  }

  /**
   * The group's user list may have changed on another instance: its members here get it, unless
   * it is the list they have (this instance's own keys come back through the watch too).
   */
  #notify(group: string): void {
    const local = this.#local.get(group);
    if (local === undefined) return;
    const list = this.#view.userNames(group, local.users.keys()).join("\n");
    if (local.list === list) return;
    local.list = list;
    this.#router?.clusterChanged(group);
  }

  #heartbeat(): void {
    if (this.#state !== "connected" || this.#kv === undefined) return;
    // On core NATS first: it goes on while JetStream elects a new leader after a NATS node died.
    try {
      this.#nc?.publish(`${this.#options.name}.hb`, this.#id);
    } catch {
      // disconnected meanwhile: the next heartbeat will do
    }
    const info = JSON.stringify({ startedAt: new Date(this.#started).toISOString(), users: this.#localUserCount() });
    this.#track(
      this.#kv.put(`i.${this.#id}`, info).catch((error) => {
        logger.debug("Cluster: heartbeat failed: {error}", { error: String(error) });
      }),
    );
  }

  #noteTombstone(entry: KvWatchEntry): void {
    if (entry.operation === "PUT") return;
    this.#tombstones.delete(entry.key);
    this.#tombstones.set(entry.key, [entry.revision, Date.now()]);
  }

  /**
   * Purges the delete markers every watch has seen by now (each instance purges those it saw: a
   * marker is purged even when the instance that wrote it stopped). Only messages before the
   * marker's successor go, so a key created again since stays.
   */
  #purgeTombstones(): void {
    const kv = this.#kv as Bucket | undefined;
    if (kv === undefined || this.#state !== "connected") return;
    const before = Date.now() - TOMBSTONE_PURGE_MS;
    const excess = this.#tombstones.size - MAX_TOMBSTONES;
    let n = 0;
    for (const [key, [revision, seenAt]] of this.#tombstones) {
      if (seenAt > before && n >= excess) break; // the map is in the order they were seen
      n++;
      this.#tombstones.delete(key);
      const filter = `$KV.${this.#options.name}.${key}`;
      this.#track(kv.jsm.streams.purge(kv.stream, { filter, seq: revision + 1 }).catch(() => {}));
    }
  }

  /** Instances whose heartbeats stopped: their users leave every list here, and their keys go. */
  #sweep(): void {
    if (this.#state !== "connected") return; // cut off: their silence says nothing
    // This instance's own heartbeat comes back through the watch every second: a silent watch is
    // stuck (its consumer was on a NATS node that died) and is started afresh.
    if (this.#kv !== undefined && Date.now() - this.#lastWatchEntryAt > 3 * this.#options.heartbeatMs) {
      this.#lastWatchEntryAt = Date.now();
      logger.info("Cluster: the shared state's watch went silent; watching it afresh");
      this.#track(this.#watch());
    }
    const dead = this.#view.deadInstances();
    if (dead.length === 0) return;
    const kv = this.#kv!;
    const groups = new Set<string>();
    for (const instance of dead) {
      const members = this.#view.membersOf(instance);
      logger.warn("Cluster: instance {instance} stopped sending heartbeats; its {count} users leave", {
        instance,
        count: members.length,
      });
      for (const [group, user] of members) {
        groups.add(group);
        const key = `m.${encodeName(group)}.${encodeName(user)}.${instance}`;
        this.#view.apply({ key, operation: "DEL", revision: 0, value: new Uint8Array() });
        this.#track(kv.delete(key).then(() => this.#forgetIfGone(group, user)).catch(() => {}));
      }
      this.#view.apply({ key: `i.${instance}`, operation: "DEL", revision: 0, value: new Uint8Array() });
      this.#track(kv.delete(`i.${instance}`).catch(() => {}));
    }
    for (const group of groups) this.#notify(group);
  }

  /** Removes the keys of groups and users nobody has held for a while (an instance killed mid-register left them). */
  #forgetOrphans(): void {
    if (this.#state !== "connected") return;
    const orphans = this.#view.orphans(ORPHAN_AFTER_DEAD_TIMES * this.#options.deadAfterMs);
    for (const [group, user] of orphans.slice(0, 1000)) this.#track(this.#forgetIfGone(group, user ?? ""));
  }

  /** Removes a user's key once no instance holds it, and its group's once it has no users. */
  async #forgetIfGone(group: string, user: string): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined || this.#state !== "connected") return;
    const g = encodeName(group);
    const stored = this.#view.user(group, user);
    if (stored !== undefined && this.#view.instancesOf(group, user).length === 0 && !this.#isLocal(group, user)) {
      await kv.delete(`u.${g}.${encodeName(user)}`, { previousSeq: stored.revision }).catch(() => {});
    }
    const storedGroup = this.#view.group(group);
    if (storedGroup !== undefined && !this.#view.hasMembers(group) && !this.#local.has(group)) {
      await kv.delete(`g.${g}`, { previousSeq: storedGroup.revision }).catch(() => {});
    }
  }

  #isLocal(group: string, user: string): boolean {
    return this.#local.get(group)?.users.has(user) === true;
  }

  #localUserCount(): number {
    let n = 0;
    for (const local of this.#local.values()) n += local.users.size;
    return n;
  }

  /** Keeps a promise until it settles, so `stop` can wait for what is in flight. */
  #track(promise: Promise<unknown>): void {
    this.#pending.add(promise);
    promise.then(() => this.#pending.delete(promise), (error) => {
      this.#pending.delete(promise);
      logger.warn("Cluster: {error}", { error: String(error) });
    });
  }

  /** Runs a slow hash in one of {@link MAX_HASHING} slots, fair between addresses; a refusal throws `HashingBusyError`. */
  #slow<T>(address: string, work: () => Promise<T>): Promise<T> {
    const started = this.#slots.run(address, work);
    if (typeof started === "string") throw new HashingBusyError(started);
    return started;
  }

  /** Whether `password` matches a stored verifier; a right password is hashed once per process run. */
  async #matches(verifier: string, password: Uint8Array, address: string): Promise<boolean> {
    const known = this.#known.get(verifier);
    if (known?.some((secret) => secret.matches(password))) return true;
    if (!await this.#slow(address, () => verifyPassword(verifier, password))) return false;
    if (this.#known.size >= MAX_KNOWN_VERIFIERS) this.#known.clear();
    const secrets = this.#known.get(verifier) ?? [];
    if (secrets.length < 4) secrets.push(new Secret(password));
    this.#known.set(verifier, secrets);
    return true;
  }

  /** Checks a password against the key's verifier, creating the key (compare-and-set) when it is new. */
  async #claimKey(key: string, password: Uint8Array, address: string): Promise<boolean> {
    const kv = this.#kv!;
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await kv.get(key);
      if (entry !== null && entry.operation === "PUT" && entry.length > 0) {
        const verifier = (entry.json() as { v: string }).v;
        if (!await this.#matches(verifier, password, address)) return false;
        this.#verifiers.set(key, verifier);
        return true;
      }
      const verifier = await this.#slow(address, () => hashPassword(password, this.#options.scryptCost));
      try {
        await kv.create(key, JSON.stringify({ v: verifier }));
        this.#verifiers.set(key, verifier);
        this.#known.set(verifier, [new Secret(password)]);
        return true;
      } catch {
        // Another instance created it first (check against theirs), or JetStream is busy (a moment later).
        await delay(100 * (attempt + 1));
      }
    }
    throw new Error(`the shared state did not take the key ${key}`);
  }

  /**
   * Admits a register: the group's and the user's passwords against the bucket's verifiers,
   * created there when new. Without NATS, a group that has members here is admitted on this
   * instance's own knowledge; a group it does not know is refused (`server_busy`): two cut-off
   * instances must not hand one name to two passwords.
   *
   * @param request the register
   * @param address the per-address key of who registers (its slow hashes wait in its own queue)
   * @returns nothing when admitted, or the error to refuse it with
   */
  async claim(request: RegisterRequest, address = ""): Promise<ProtocolError | undefined> {
    try {
      return await this.#claim(request, address);
    } catch (error) {
      if (!(error instanceof HashingBusyError)) throw error;
      if (error.reason === "address_busy") {
        return new ProtocolError(
          "too_many_attempts",
          "Too many registers from your address are being checked; retry in 1 s",
          REGISTER_ADDRESS,
        );
      }
      return new ProtocolError(
        "server_busy",
        "The router is checking many passwords at once; retry in a few seconds",
        REGISTER_ADDRESS,
      );
    }
  }

  async #claim(request: RegisterRequest, address: string): Promise<ProtocolError | undefined> {
    if (this.#state !== "connected") {
      await Promise.race([this.#ready.catch(() => {}), delay(this.#options.claimWaitMs)]);
    }
    const { groupName, userName } = request;
    if (this.#state !== "connected" || this.#kv === undefined) {
      if (this.#local.has(groupName) && !this.#view.elsewhere(groupName, userName)) {
        // Admitted on what this instance knows; the user's verifier goes to the bucket when NATS returns.
        const key = `u.${encodeName(groupName)}.${encodeName(userName)}`;
        if (!this.#verifiers.has(key)) {
          const verifier = await this.#slow(
            address,
            () => hashPassword(request.userPassword, this.#options.scryptCost),
          );
          this.#verifiers.set(key, verifier);
        }
        return undefined;
      }
      return new ProtocolError(
        "server_busy",
        "The router cannot reach its cluster's shared state (NATS) to create this group; retry in a few seconds",
        REGISTER_ADDRESS,
      );
    }
    const g = encodeName(groupName);
    if (!await this.#claimKey(`g.${g}`, request.groupPassword, address)) {
      return new ProtocolError(
        "wrong_group_password",
        `Group '${groupName}' exists with another password; check the group password or choose another group name`,
        REGISTER_ADDRESS,
      );
    }
    if (!await this.#claimKey(`u.${g}.${encodeName(userName)}`, request.userPassword, address)) {
      return new ProtocolError(
        "wrong_user_password",
        `User '${userName}' exists in group '${groupName}' with another password; choose another user name`,
        REGISTER_ADDRESS,
      );
    }
    return undefined;
  }

  /**
   * A user got its first connection here: mark it in the bucket, subscribe to its group and
   * its private messages.
   *
   * @param group the group
   * @param user the user
   */
  joined(group: string, user: string): void {
    let local = this.#local.get(group);
    if (local === undefined) {
      local = {
        sub: this.#subscribe(`${this.#options.name}.g.${encodeName(group)}`, group, undefined),
        users: new Map(),
      };
      this.#local.set(group, local);
    }
    const subject = `${this.#options.name}.u.${encodeName(group)}.${encodeName(user)}`;
    local.users.set(user, this.#subscribe(subject, group, user));
    local.list = this.#view.userNames(group, local.users.keys()).join("\n"); // the router sends this one itself
    if (this.#kv !== undefined && this.#state === "connected") {
      this.#track(
        this.#kv.put(`m.${encodeName(group)}.${encodeName(user)}.${this.#id}`, "").then(() => {
          // Removed between this register's check and its member key (another instance's stale view)?
          if (this.#view.group(group) === undefined) this.#restore(`g.${encodeName(group)}`);
          if (this.#view.user(group, user) === undefined) this.#restore(`u.${encodeName(group)}.${encodeName(user)}`);
        }).catch((error) => {
          logger.warn("Cluster: could not record {user}@{group}: {error}", { user, group, error: String(error) });
        }),
      );
    }
  }

  /**
   * A user's last connection here closed: unmark it, unsubscribe, and remove the user (and the
   * group) from the bucket when no other instance holds them.
   *
   * @param group the group
   * @param user the user
   */
  left(group: string, user: string): void {
    const local = this.#local.get(group);
    if (local === undefined) return;
    local.users.get(user)?.unsubscribe();
    local.users.delete(user);
    local.list = this.#view.userNames(group, local.users.keys()).join("\n");
    this.#verifiers.delete(`u.${encodeName(group)}.${encodeName(user)}`);
    if (local.users.size === 0) {
      local.sub?.unsubscribe();
      this.#local.delete(group);
      this.#verifiers.delete(`g.${encodeName(group)}`);
    }
    const kv = this.#kv;
    if (kv === undefined || this.#state !== "connected") return;
    const key = `m.${encodeName(group)}.${encodeName(user)}.${this.#id}`;
    this.#view.apply({ key, operation: "DEL", revision: 0, value: new Uint8Array() });
    this.#track(
      kv.delete(key).then(() => this.#forgetIfGone(group, user)).catch((error) => {
        logger.warn("Cluster: could not remove {user}@{group}: {error}", { user, group, error: String(error) });
      }),
    );
  }

  #subscribe(subject: string, group: string, user: string | undefined): Subscription | undefined {
    const nc = this.#nc;
    if (nc === undefined) return undefined;
    return nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error !== null || this.#router === undefined) return;
        this.#counts.received++;
        const data = msg.data;
        if (user !== undefined) return this.#router.deliverRemotePrivate(group, user, data);
        const nameBytes = ((data[0] ?? 0) << 8) | (data[1] ?? 0);
        if (data.length < 2 + nameBytes) return;
        const sender = utf8Decoder.decode(data.subarray(2, 2 + nameBytes));
        this.#router.deliverRemote(group, sender, data.subarray(2 + nameBytes));
      },
    });
  }

  /**
   * A member's packet for its group: published once, only when another live instance has
   * members in the group (a group held by this instance alone costs no NATS traffic).
   *
   * @param group the group
   * @param sender the sending user
   * @param packet the packet's bytes (copied here)
   */
  broadcast(group: string, sender: string, packet: Uint8Array): void {
    const nc = this.#nc;
    if (nc === undefined || this.#state !== "connected" || !this.#view.othersIn(group)) return;
    const name = utf8.encode(sender);
    const data = new Uint8Array(2 + name.length + packet.length);
    data[0] = name.length >> 8;
    data[1] = name.length & 0xff;
    data.set(name, 2);
    data.set(packet, 2 + name.length);
    this.#publish(nc, `${this.#options.name}.g.${encodeName(group)}`, data);
  }

  /**
   * A private message for a user: published when the user has connections on another live instance.
   *
   * @param group the group
   * @param target the user
   * @param packet the rewritten message
   * @returns whether it was published
   */
  private(group: string, target: string, packet: Uint8Array): boolean {
    const nc = this.#nc;
    if (nc === undefined || !this.#view.elsewhere(group, target)) return false;
    if (this.#state === "connected") {
      this.#publish(nc, `${this.#options.name}.u.${encodeName(group)}.${encodeName(target)}`, packet.slice());
    }
    return true;
  }

  #publish(nc: NatsConnection, subject: string, data: Uint8Array): void {
    try {
      nc.publish(subject, data);
      this.#counts.published++;
    } catch (error) {
      this.#counts.publishErrors++;
      const now = Date.now();
      if (now - this.#publishErrorLoggedAt >= PUBLISH_ERROR_LOG_MS) {
        this.#publishErrorLoggedAt = now;
        logger.warn(
          "Cluster: a packet of {bytes} bytes did not go to the other instances: {error} (NATS's max_payload, " +
            "1 MiB by default, must exceed --max-packet-bytes)",
          { bytes: data.length, error: String(error) },
        );
      }
    }
  }

  /**
   * The group's users over the cluster in join order.
   *
   * @param group the group
   * @param local this instance's users of it
   * @returns user names
   */
  userNames(group: string, local: Iterable<string>): Iterable<string> {
    return this.#view.userNames(group, local);
  }

  /**
   * The cluster for the status page.
   *
   * @returns a snapshot
   */
  status(): ClusterStatus {
    const snapshot = this.#view.snapshot();
    return {
      name: this.#options.name,
      instance: this.#id,
      state: this.#state,
      server: this.#state === "connected" ? this.#nc?.getServer() ?? null : null,
      instances: snapshot.instances,
      users: snapshot.users,
      ...this.#counts,
    };
  }

  /**
   * Stops: this instance's keys leave the bucket (its users leave every list at once), then the
   * connection drains. Call after the server closed its connections.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    globalThis.removeEventListener("error", this.#onSocketError);
    this.#watchGeneration++;
    this.#stopWatch?.();
    const kv = this.#kv;
    if (kv !== undefined && this.#state === "connected") {
      for (const [group, local] of this.#local) {
        for (const user of local.users.keys()) this.left(group, user);
      }
      this.#track(kv.delete(`i.${this.#id}`).catch(() => {}));
      await Promise.race([Promise.allSettled([...this.#pending]), delay(2000)]);
    }
    await Promise.race([this.#ready.catch(() => {}), delay(3000)]);
    const nc = this.#nc;
    if (nc !== undefined) await nc.drain().catch(() => nc.close());
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    Deno.unrefTimer(timer);
  });
}
