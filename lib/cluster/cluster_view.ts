/**
 * One instance's view of the cluster's shared state, built from the key-value bucket's
 * entries as they arrive (a watch): groups, users in join order, which instances hold each
 * user, and which instances are alive (heartbeats). Pure: no I/O, the clock is injected.
 *
 * Keys (names encoded by {@link encodeName}, so any name is one token):
 * `g.GROUP` a group's password verifier; `u.GROUP.USER` a user's (its revision is its place
 * in the join order); `m.GROUP.USER.INSTANCE` the user has connections on that instance;
 * `i.INSTANCE` that instance's heartbeat.
 *
 * @module
 */

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * A name as one key or subject token: base64url of its UTF-8, without padding (`A-Z a-z 0-9 - _`).
 *
 * @param name a user, group or instance name
 * @returns the token
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeName, encodeName } from "./cluster_view.ts";
 * assert.equal(encodeName("a b.c/>"), "YSBiLmMvPg");
 * assert.equal(decodeName("YSBiLmMvPg"), "a b.c/>");
 * ```
 */
export function encodeName(name: string): string {
  let binary = "";
  for (const byte of utf8.encode(name)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The name a token encodes (see {@link encodeName}).
 *
 * @param token a key or subject token
 * @returns the name
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeName } from "./cluster_view.ts";
 * assert.equal(decodeName("YW5h"), "ana");
 * ```
 */
export function decodeName(token: string): string {
  const binary = atob(token.replaceAll("-", "+").replaceAll("_", "/"));
  return utf8Decoder.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** One entry of the bucket, as a watch delivers it. */
export interface BucketEntry {
  /** The key (`g.`, `u.`, `m.` or `i.` and tokens). */
  key: string;
  /** `PUT`, or `DEL`/`PURGE` for a removed key. */
  operation: string;
  /** The stream sequence of this entry: later entries have larger ones. */
  revision: number;
  /** The value's bytes (JSON, or empty). */
  value: Uint8Array;
}

/** A verifier as the bucket holds it. */
export interface StoredVerifier {
  /** The revision of the key's entry (a user's is its place in the join order). */
  revision: number;
  /** The `$scrypt$` verifier of the password. */
  verifier: string;
  /** When this view took the entry in, by this instance's clock (ms). */
  seenMs?: number;
}

/** An instance as the view knows it. */
export interface InstanceState {
  /** When its last heartbeat arrived, by this instance's clock (ms). */
  lastSeenMs: number;
  /** What it said about itself. */
  info: Record<string, unknown>;
}

/** The cluster as one instance sees it: every instance it knows, and where each user is. */
export interface ClusterSnapshot {
  /** Every instance this one knows, itself included, and whether it is alive. */
  instances: {
    id: string;
    self: boolean;
    live: boolean;
    lastSeenMsAgo: number | null;
    info: Record<string, unknown>;
  }[];
  /** Every user of the cluster and the instances it is connected to. */
  users: { group: string; user: string; instances: string[] }[];
}

/**
 * The shared state as one instance sees it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClusterView, encodeName } from "./cluster_view.ts";
 * let now = 0;
 * const view = new ClusterView("A", { now: () => now, deadAfterMs: 3000 });
 * const put = (key: string, revision: number, value = new Uint8Array()) => view.apply({ key, operation: "PUT", revision, value });
 * const g = encodeName("band");
 * put(`u.${g}.${encodeName("bob")}`, 1, new TextEncoder().encode('{"v":"$scrypt$..."}'));
 * put(`m.${g}.${encodeName("bob")}.B`, 2);
 * put("i.B", 3);
 * assert.deepEqual([...view.userNames("band", ["ana"])], ["bob", "ana"]);
 * now = 5000; // B's heartbeats stopped
 * assert.deepEqual(view.deadInstances(), ["B"]);
 * assert.deepEqual([...view.userNames("band", ["ana"])], ["ana"]);
 * ```
 */
export class ClusterView {
  readonly #self: string;
  readonly #now: () => number;
  readonly #deadAfterMs: number;
  readonly #groups = new Map<string, StoredVerifier>();
  readonly #users = new Map<string, Map<string, StoredVerifier>>();
  /** group -> user -> instances holding it. */
  readonly #members = new Map<string, Map<string, Set<string>>>();
  readonly #instances = new Map<string, InstanceState>();

  /**
   * An empty view.
   *
   * @param self this instance's id
   * @param options the clock, and how long an instance may go without a heartbeat before it is dead
   */
  constructor(self: string, options: { now: () => number; deadAfterMs: number }) {
    this.#self = self;
    this.#now = options.now;
    this.#deadAfterMs = options.deadAfterMs;
  }

  /** This instance's id. */
  get self(): string {
    return this.#self;
  }

  /** Forgets everything (before a new watch delivers the bucket again). */
  clear(): void {
    this.#groups.clear();
    this.#users.clear();
    this.#members.clear();
    this.#instances.clear();
  }

  /**
   * Takes one entry of the bucket into the view.
   *
   * @param entry the entry
   * @returns the group whose members or user list it changed, if any
   */
  apply(entry: BucketEntry): string | undefined {
    const parts = entry.key.split(".");
    const put = entry.operation === "PUT";
    try {
      switch (parts[0]) {
        case "g": {
          const group = decodeName(parts[1]!);
          if (put) {
            this.#groups.set(group, {
              revision: entry.revision,
              verifier: verifierOf(entry.value),
              seenMs: this.#now(),
            });
          } else this.#groups.delete(group);
          return undefined;
        }
        case "u": {
          const group = decodeName(parts[1]!);
          const user = decodeName(parts[2]!);
          const users = this.#users.get(group) ?? new Map<string, StoredVerifier>();
          if (put) {
            users.set(user, { revision: entry.revision, verifier: verifierOf(entry.value), seenMs: this.#now() });
            this.#users.set(group, users);
          } else {
            users.delete(user);
            if (users.size === 0) this.#users.delete(group);
          }
          return group;
        }
        case "m": {
          const group = decodeName(parts[1]!);
          const user = decodeName(parts[2]!);
          const instance = parts[3]!;
          const users = this.#members.get(group) ?? new Map<string, Set<string>>();
          const instances = users.get(user) ?? new Set<string>();
          if (put) {
            instances.add(instance);
            users.set(user, instances);
            this.#members.set(group, users);
          } else {
            instances.delete(instance);
            if (instances.size === 0) users.delete(user);
            if (users.size === 0) this.#members.delete(group);
          }
          return group;
        }
        case "i": {
          const instance = parts[1]!;
          if (put) this.#instances.set(instance, { lastSeenMs: this.#now(), info: infoOf(entry.value) });
          else this.#instances.delete(instance);
          return undefined;
        }
      }
    } catch {
      // A key this version does not understand (a newer instance's, or a bad token): ignored.
    }
    return undefined;
  }

  /**
   * A heartbeat arrived from an instance (on the heartbeat subject, not through the bucket).
   *
   * @param instance its id (12 hex digits; anything else is ignored)
   */
  seen(instance: string): void {
    if (!/^[0-9a-f]{12}$/.test(instance)) return;
    const state = this.#instances.get(instance);
    if (state !== undefined) state.lastSeenMs = this.#now();
    else this.#instances.set(instance, { lastSeenMs: this.#now(), info: {} });
  }

  /**
   * Whether an instance counts as alive: this one always; another while its heartbeats come.
   *
   * @param instance an instance id
   * @returns true if alive
   */
  isLive(instance: string): boolean {
    if (instance === this.#self) return true;
    const state = this.#instances.get(instance);
    return state !== undefined && this.#now() - state.lastSeenMs <= this.#deadAfterMs;
  }

  /**
   * Gives every known instance a fresh grace period (after this instance was cut off from the
   * bucket, their silence says nothing about them).
   */
  forgiveAll(): void {
    const now = this.#now();
    for (const state of this.#instances.values()) state.lastSeenMs = now;
  }

  /**
   * Instances that hold members or heartbeat keys but are no longer alive.
   *
   * @returns their ids
   */
  deadInstances(): string[] {
    const dead = new Set<string>();
    for (const instance of this.#instances.keys()) if (!this.isLive(instance)) dead.add(instance);
    for (const users of this.#members.values()) {
      for (const instances of users.values()) {
        for (const instance of instances) if (!this.isLive(instance)) dead.add(instance);
      }
    }
    return [...dead];
  }

  /**
   * The member keys an instance holds, for cleaning up after it.
   *
   * @param instance an instance id
   * @returns [group, user] pairs
   */
  membersOf(instance: string): [string, string][] {
    const out: [string, string][] = [];
    for (const [group, users] of this.#members) {
      for (const [user, instances] of users) if (instances.has(instance)) out.push([group, user]);
    }
    return out;
  }

  /**
   * Whether another live instance has members in the group (then a broadcast must go there).
   *
   * @param group a group name
   * @returns true if some other instance needs its packets
   */
  othersIn(group: string): boolean {
    const users = this.#members.get(group);
    if (users === undefined) return false;
    for (const instances of users.values()) {
      for (const instance of instances) if (instance !== this.#self && this.isLive(instance)) return true;
    }
    return false;
  }

  /**
   * Whether a user has connections on another live instance.
   *
   * @param group the group
   * @param user the user
   * @returns true if so
   */
  elsewhere(group: string, user: string): boolean {
    const instances = this.#members.get(group)?.get(user);
    if (instances === undefined) return false;
    for (const instance of instances) if (instance !== this.#self && this.isLive(instance)) return true;
    return false;
  }

  /**
   * Live instances a user has connections on.
   *
   * @param group the group
   * @param user the user
   * @returns instance ids
   */
  instancesOf(group: string, user: string): string[] {
    return [...this.#members.get(group)?.get(user) ?? []].filter((instance) => this.isLive(instance));
  }

  /**
   * The group's users in join order: every user with a connection on a live instance, plus
   * this instance's own users (`local`), which may not have reached the bucket yet.
   *
   * @param group the group
   * @param local this instance's users of the group, in their local join order
   * @returns user names
   */
  userNames(group: string, local: Iterable<string>): string[] {
    const order = this.#users.get(group);
    const here = new Set(local);
    const names = new Set(here);
    for (const user of this.#members.get(group)?.keys() ?? []) {
      if (this.elsewhere(group, user)) names.add(user);
    }
    const rank = (name: string) => order?.get(name)?.revision ?? Number.MAX_SAFE_INTEGER;
    // Array.prototype.sort is stable: users not in the bucket yet keep their local order, last.
    return [...names].sort((a, b) => rank(a) - rank(b));
  }

  /**
   * A group's stored verifier and its revision, if the bucket has it.
   *
   * @param group the group
   * @returns the entry, or undefined
   */
  group(group: string): StoredVerifier | undefined {
    return this.#groups.get(group);
  }

  /**
   * A user's stored verifier and its revision, if the bucket has it.
   *
   * @param group the group
   * @param user the user
   * @returns the entry, or undefined
   */
  user(group: string, user: string): StoredVerifier | undefined {
    return this.#users.get(group)?.get(user);
  }

  /**
   * Whether any user of the group is held by a live instance.
   *
   * @param group the group
   * @returns true if the group still has users
   */
  hasMembers(group: string): boolean {
    for (const instances of this.#members.get(group)?.values() ?? []) {
      for (const instance of instances) if (this.isLive(instance)) return true;
    }
    return false;
  }

  /**
   * Groups and users whose keys no live instance has held for `olderThanMs` (an instance killed
   * between creating them and marking its user left them behind): their keys can go.
   *
   * @param olderThanMs how long a key must have been in this view without a holder
   * @returns [group, user] pairs; user is undefined for a group's own key
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClusterView, encodeName } from "./cluster_view.ts";
   * let now = 0;
   * const view = new ClusterView("A", { now: () => now, deadAfterMs: 3000 });
   * const value = new TextEncoder().encode('{"v":"$scrypt$..."}');
   * view.apply({ key: `g.${encodeName("band")}`, operation: "PUT", revision: 1, value });
   * assert.deepEqual(view.orphans(10_000), []);
   * now = 20_000;
   * assert.deepEqual(view.orphans(10_000), [["band", undefined]]);
   * ```
   */
  orphans(olderThanMs: number): [string, string | undefined][] {
    const before = this.#now() - olderThanMs;
    const out: [string, string | undefined][] = [];
    for (const [group, stored] of this.#groups) {
      if ((stored.seenMs ?? 0) < before && !this.hasMembers(group)) out.push([group, undefined]);
    }
    for (const [group, users] of this.#users) {
      for (const [user, stored] of users) {
        if ((stored.seenMs ?? 0) < before && this.instancesOf(group, user).length === 0) out.push([group, user]);
      }
    }
    return out;
  }

  /**
   * Every instance with its state, and every user with the live instances it is on.
   *
   * @returns a snapshot for the status page
   */
  snapshot(): ClusterSnapshot {
    const now = this.#now();
    const ids = new Set([this.#self, ...this.#instances.keys()]);
    const instances = [...ids].map((id) => {
      const state = this.#instances.get(id);
      return {
        id,
        self: id === this.#self,
        live: this.isLive(id),
        lastSeenMsAgo: state === undefined ? null : now - state.lastSeenMs,
        info: state?.info ?? {},
      };
    });
    const users: { group: string; user: string; instances: string[] }[] = [];
    for (const [group, members] of this.#members) {
      for (const user of this.userNames(group, [])) {
        if (members.has(user)) users.push({ group, user, instances: this.instancesOf(group, user) });
      }
      for (const [user, held] of members) {
        if (held.has(this.#self) && !this.elsewhere(group, user)) {
          users.push({ group, user, instances: [this.#self] });
        }
      }
    }
    return { instances, users };
  }
}

function verifierOf(value: Uint8Array): string {
  const parsed: unknown = JSON.parse(utf8Decoder.decode(value));
  const verifier = (parsed as { v?: unknown }).v;
  if (typeof verifier !== "string") throw new TypeError("An entry without a verifier");
  return verifier;
}

function infoOf(value: Uint8Array): Record<string, unknown> {
  if (value.length === 0) return {};
  const parsed: unknown = JSON.parse(utf8Decoder.decode(value));
  return typeof parsed === "object" && parsed !== null ? parsed as Record<string, unknown> : {};
}
