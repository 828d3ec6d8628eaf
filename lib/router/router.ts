/**
 * The router: sessions, users and groups; register, broadcast, private messages and
 * user lists (PROTOCOL.md sections 2 to 5). Pure logic: no I/O, no timers, synchronous, with
 * one exception: a register against a declared password hash (`--groups`) is decided in two
 * phases, when its scrypt check (off the main thread) ends; the connection's packets wait
 * meanwhile. User lists held back while members churn go out when the host calls
 * `flushUserLists` (it is asked through `onUserListsPending`: the router keeps no timer).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { OutgoingPacket } from "../framing/outgoing.ts";
import { readMessageHead } from "../osc/codec.ts";
import { OscDecodeError } from "../osc/errors.ts";
import type { MessageHead } from "../osc/types.ts";
import {
  bundleMessages,
  isControlAddress,
  PACKET_BUNDLE,
  PACKET_CONTROL,
  scanPacket,
  skipString,
} from "../osc/validate.ts";
import { argText } from "./arg_text.ts";
import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/error_code.ts";
import { PRIVATE_ADDRESS, rewritePrivate } from "./private_message.ts";
import { REGISTER_ADDRESS } from "../protocol/names.ts";
import { parseRegister, rawStringArgs, type RegisterRequest } from "./register.ts";
import { errorPacket, registerReply, userListPacket } from "../protocol/replies.ts";
import { Secret } from "./secret.ts";
import type { Session } from "./session.ts";
import { WarningLimiter } from "../util/warning_limiter.ts";
import { EventLog } from "./event_log.ts";
import { SessionTraffic } from "./session_traffic.ts";
import { AttemptLimiter, type AttemptLimiterOptions } from "../access/attempt_limiter.ts";
import type { GroupsConfig } from "../access/groups_file.ts";
import type { PasswordHash } from "../access/password_hash.ts";
import { PasswordVerifier, type PasswordVerifierOptions } from "../access/password_verifier.ts";
import type { ClusterLink } from "./cluster_link.ts";

const PING_ADDRESS = "/oscrouter/ping";
/** The ping's address as the bytes it starts with (its NUL included): pings are recognised without decoding. */
const PING_BYTES = new TextEncoder().encode(PING_ADDRESS + "\0");
const PRIVATE_BYTES = new TextEncoder().encode(PRIVATE_ADDRESS + "\0");
const REGISTER_BYTES = new TextEncoder().encode(REGISTER_ADDRESS + "\0");
/** Register arguments the router reads: four, and the optional id. */
const REGISTER_ARGS = 5;
/**
 * Most messages a bundle that contains a control message may hold (nested bundles counted
 * depth-first). Such a bundle is opened and each message handled alone: one delivery per
 * message and recipient, a private-message rewrite per message. Real ones are small (liblo's
 * `oscsendfile` wraps each message in its own bundle); a larger one is refused whole.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_CONTROL_BUNDLE_MESSAGES } from "./router.ts";
 * assert.equal(MAX_CONTROL_BUNDLE_MESSAGES, 256);
 * ```
 */
export const MAX_CONTROL_BUNDLE_MESSAGES = 256;
const logger = getLogger(["tcposcrouter", "router"]);

interface User {
  readonly name: string;
  readonly password: Secret;
  readonly sessions: Set<Session>;
}

interface Group {
  readonly name: string;
  readonly password: Secret;
  /** Users in the order they joined (a Map keeps insertion order). */
  readonly users: Map<string, User>;
  /** Bumped on every change of membership: which user list a connection has is tracked by it. */
  listVersion: number;
  /** When the last user list went to the whole group (ms). */
  listSentAt: number;
  /** How long after `listSentAt` the next one may go while members churn (ms). */
  listGapMs: number;
  /** A change waits for `flushUserLists`. */
  listPending: boolean;
}

/** A register waiting for a slow password check, and the packets its connection sent meanwhile. */
interface PendingRegister {
  queue: Uint8Array[];
  bytes: number;
  /** Whether the client was told that packets were dropped (once per pending register). */
  toldDropped?: boolean;
}

/** Which password of a register a slow check was for. */
type Role = "group" | "user";
/** Results of a register's slow checks, with the hash each was made against (the file may change meanwhile). */
type Checked = Map<Role | "cluster", { hash: string; ok: boolean }>;

/** Packets kept per connection while its register is being checked; more are dropped. */
const MAX_PENDING_BYTES = 64 * 1024;
const MAX_PENDING_PACKETS = 64;

interface Member {
  readonly user: User;
  readonly group: Group;
}

/** Counters the router keeps; the server adds its own. */
export interface RouterCounters {
  /** Packets received from clients (after framing). */
  packetsIn: number;
  /** Bytes of those packets. */
  bytesIn: number;
  /** Packets handed to sessions (one per recipient). */
  packetsOut: number;
  /** Bytes of those packets. */
  bytesOut: number;
  /** Error replies sent, by code. */
  errors: Record<ErrorCode, number>;
}

/** Options of the router. */
export interface RouterOptions {
  /** Clock in milliseconds, for rate limits, backoff and user-list pacing (tests inject one). */
  now?: () => number;
  /** Per-address limits on registering (rate, backoff after failures); see `DEFAULT_ATTEMPT_LIMITS`. */
  attempts?: Partial<Omit<AttemptLimiterOptions, "now">>;
  /** Groups the operator declared (`--groups`); none by default (first come, first served). */
  groups?: GroupsConfig;
  /** Only declared groups may be used (`--closed`); others get `unknown_group`. */
  closed?: boolean;
  /** How declared hashes are checked (tests inject a controllable check); scrypt off the main thread by default. */
  verifier?: Partial<PasswordVerifierOptions>;
  /**
   * Asks the host to call `flushUserLists()` in `delayMs` (the router has no timers). With it,
   * user lists are coalesced per group while members churn; without it, every change of
   * membership sends the user list at once.
   */
  onUserListsPending?: (delayMs: number) => void;
  /** Shortest gap between two user lists to a whole group while members churn (default 100 ms). */
  userListMinIntervalMs?: number;
  /** User-list bytes per second one group may be sent while churning; larger lists wait longer (default 1 MiB/s). */
  userListBytesPerSecond?: number;
  /** Longest gap between two user lists to a churning group (default 2 s). */
  userListMaxIntervalMs?: number;
  /** Where joins, leaves and refusals are recorded for the status page (a new log by default). */
  events?: EventLog;
  /** Other instances that behave as one router with this one (`--cluster`); none by default. */
  cluster?: ClusterLink;
}

/**
 * Routes packets between sessions in password-protected groups.
 *
 * The server calls `receive` for every packet a connection sends (in order), and
 * `leave` when a connection closes. The router answers through `Session.send` and
 * ends sessions through `Session.close`.
 *
 * @example Two users in one group
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * import { encodeMessage } from "../osc/codec.ts";
 * import type { OutgoingPacket } from "../framing/outgoing.ts";
 * const inbox: OutgoingPacket[] = [];
 * const session = (name: string) => ({ framing: "slip" as const, peer: name, address: name, send: (p: OutgoingPacket) => { if (name === "b") inbox.push(p); }, close() {} });
 * const router = new Router();
 * const a = session("a"), b = session("b");
 * const register = (user: string) => encodeMessage({ address: "/oscrouter/register", args: [user, "pw", "band", "gpw"].map((value) => ({ type: "s" as const, value })) });
 * router.receive(a, register("ana"));
 * router.receive(b, register("bob"));
 * inbox.length = 0;
 * router.receive(a, encodeMessage({ address: "/note", args: [{ type: "i", value: 60 }] }));
 * assert.equal(inbox.length, 1);
 * ```
 */
export class Router {
  #groups = new Map<string, Group>();
  #members = new Map<Session, Member>();
  /** Sessions refused at registration: their remaining packets are ignored. */
  #refused = new WeakSet<Session>();
  #warnings: WarningLimiter;
  #failureLog: WarningLimiter;
  #now: () => number;
  #attempts: AttemptLimiter;
  #verifier: PasswordVerifier;
  #config: GroupsConfig = { groups: new Map() };
  #closed: boolean;
  #pending = new Map<Session, PendingRegister>();
  #onUserListsPending: ((delayMs: number) => void) | undefined;
  #cluster: ClusterLink | undefined;
  #pendingLists = new Set<Group>();
  /** The user-list version each connection last got (a connection is in one group). */
  #listVersions = new WeakMap<Session, number>();
  #userList: { minMs: number; maxMs: number; bytesPerSecond: number };
  /** Error codes replied to in the bundle being routed; undefined outside a bundle. */
  #bundleReplies: Set<ErrorCode> | undefined;
  /** Per-packet debug lines cost a check per packet; decided once, when the router is made. */
  #debug = logger.isEnabledFor("debug");
  /** Recent joins, leaves, refusals and slow consumers, for the operator's status page. */
  readonly events: EventLog;
  /** Packets each connection sent, and when its last one came, for the status page. */
  readonly traffic: SessionTraffic = new SessionTraffic();
  /** What the router has counted since it started. */
  readonly counters: RouterCounters = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    errors: Object.fromEntries(ERROR_CODES.map((code) => [code, 0])) as Record<ErrorCode, number>,
  };

  /**
   * An empty router: no groups yet.
   *
   * @param options a clock for the warning rate limit
   */
  constructor(options: RouterOptions = {}) {
    this.#now = options.now ?? Date.now;
    const clock = { now: this.#now };
    this.#warnings = new WarningLimiter({ burst: 20, perSecond: 2, ...clock });
    this.#failureLog = new WarningLimiter({ burst: 20, perSecond: 2, ...clock });
    this.#attempts = new AttemptLimiter({ ...options.attempts, ...clock });
    this.#verifier = new PasswordVerifier(options.verifier);
    if (options.groups) this.#config = options.groups;
    this.#closed = options.closed === true;
    this.#onUserListsPending = options.onUserListsPending;
    this.#cluster = options.cluster;
    this.events = options.events ?? new EventLog();
    this.#userList = {
      minMs: options.userListMinIntervalMs ?? 100,
      maxMs: options.userListMaxIntervalMs ?? 2000,
      bytesPerSecond: options.userListBytesPerSecond ?? 1024 * 1024,
    };
  }

  /**
   * Replaces the declared groups (the groups file was re-read). Connected members stay, even
   * where their password no longer matches; later registers are checked against the new file.
   *
   * @param config the new declarations
   */
  setGroups(config: GroupsConfig): void {
    this.#config = config;
  }

  /** The declared groups in force. */
  get groups(): GroupsConfig {
    return this.#config;
  }

  /** Registers waiting for a password check. */
  get pendingRegisters(): number {
    return this.#pending.size;
  }

  /**
   * Sends the user lists that were held back while members churned, for groups whose gap has
   * passed. The host calls it when `onUserListsPending` asked, or any time.
   */
  flushUserLists(): void {
    const now = this.#now();
    let nextMs = Infinity;
    for (const group of this.#pendingLists) {
      if (this.#groups.get(group.name) !== group) {
        this.#pendingLists.delete(group); // emptied and removed meanwhile
        group.listPending = false;
        continue;
      }
      const due = group.listSentAt + group.listGapMs;
      if (now < due) {
        nextMs = Math.min(nextMs, due - now);
        continue;
      }
      this.#pendingLists.delete(group);
      group.listPending = false;
      this.#sendUserList(group);
    }
    if (nextMs !== Infinity) this.#onUserListsPending?.(nextMs);
  }

  /** Number of groups. */
  get groupCount(): number {
    return this.#groups.size;
  }

  /** Number of registered sessions. */
  get sessionCount(): number {
    return this.#members.size;
  }

  /** Number of users over all groups. */
  get userCount(): number {
    let n = 0;
    for (const group of this.#groups.values()) n += group.users.size;
    return n;
  }

  /**
   * The groups and their users' names, in join order (for status pages and tests).
   *
   * @returns a snapshot
   */
  snapshot(): { name: string; users: string[] }[] {
    return Array.from(this.#groups.values(), (g) => ({ name: g.name, users: [...g.users.keys()] }));
  }

  /**
   * Whether the session has registered.
   *
   * @param session a connection
   * @returns true once it is a member of a group
   */
  isRegistered(session: Session): boolean {
    return this.#members.has(session);
  }

  /**
   * Who the session is, for logs.
   *
   * @param session a connection
   * @returns "user@group", or undefined before it registers
   */
  describe(session: Session): string | undefined {
    const member = this.#members.get(session);
    return member && `${member.user.name}@${member.group.name}`;
  }

  /**
   * Handles one packet a session sent.
   *
   * @param session the sender
   * @param packet the packet's bytes (may be a view of a read buffer: not kept past the call)
   */
  receive(session: Session, packet: Uint8Array): void {
    if (this.#refused.has(session)) return;
    this.counters.packetsIn++;
    this.counters.bytesIn += packet.length;
    this.traffic.count(session, packet.length);
    const pending = this.#pending.get(session);
    if (pending !== undefined) {
      this.#hold(session, pending, packet);
      return;
    }
    this.#handle(session, packet);
  }

  #handle(session: Session, packet: Uint8Array): void {
    let flags: number;
    try {
      flags = scanPacket(packet);
    } catch (e) {
      if (!(e instanceof OscDecodeError)) throw e;
      this.#reportMalformed(session, packet, e);
      return;
    }
    const member = this.#members.get(session);
    if (this.#debug) {
      logger.debug("{peer} ({who}) sent {packet}", {
        peer: session.peer,
        who: member ? `${member.user.name}@${member.group.name}` : "not registered",
        packet: describePacket(packet, flags),
      });
    }
    if ((flags & PACKET_BUNDLE) !== 0 && (flags & PACKET_CONTROL) !== 0 && !this.#openable(session, packet)) return;
    if ((flags & PACKET_BUNDLE) !== 0) this.#bundleReplies = new Set();
    try {
      if (member === undefined) {
        this.#receiveUnregistered(session, packet, flags);
      } else if ((flags & PACKET_CONTROL) === 0) {
        this.#broadcast(member, packet);
      } else if ((flags & PACKET_BUNDLE) === 0) {
        this.#control(session, member, packet);
      } else {
        for (const message of bundleMessages(packet)) {
          const current = this.#members.get(session);
          if (current === undefined) return; // closed by an earlier message of the bundle
          this.#route(session, current, message);
        }
      }
    } finally {
      this.#bundleReplies = undefined;
    }
  }

  /**
   * A session's connection closed: it leaves its user; a user with no connection left
   * leaves its group; an empty group is removed.
   *
   * @param session the closed connection
   */
  leave(session: Session): void {
    this.#refused.delete(session);
    this.#pending.delete(session);
    const member = this.#members.get(session);
    if (member === undefined) return;
    this.#members.delete(session);
    this.events.record({ kind: "leave", who: `${member.user.name}@${member.group.name}`, address: session.peer });
    const { user, group } = member;
    user.sessions.delete(session);
    if (user.sessions.size > 0) return;
    group.users.delete(user.name);
    this.#cluster?.left(group.name, user.name);
    logger.info("{user}@{group} left ({peer}); users still in the group: {count}", {
      user: user.name,
      group: group.name,
      peer: session.peer,
      count: group.users.size,
    });
    if (group.users.size === 0) {
      this.#groups.delete(group.name);
      logger.info("Group {group} is empty and was removed", { group: group.name });
      return;
    }
    this.#membershipChanged(group);
  }

  /**
   * Refuses a session that did not register in time (the server keeps the clock).
   *
   * @param session a connection that is not registered
   * @param seconds the timeout, for the message
   */
  expire(session: Session, seconds: number): void {
    if (this.#members.has(session) || this.#refused.has(session)) return;
    this.#pending.delete(session);
    this.#refuse(
      session,
      new ProtocolError(
        "not_registered",
        `No /oscrouter/register within ${seconds} s; reconnect and register first`,
        "",
      ),
    );
  }

  /**
   * Sends an error reply (used by the server for framing errors too).
   *
   * @param session the recipient
   * @param error what to report
   */
  sendError(session: Session, error: ProtocolError): void {
    this.counters.errors[error.code]++;
    this.#deliver(session, new OutgoingPacket(errorPacket(error.code, error.message, error.context)));
  }

  /**
   * Whether a bundle that contains a control message is small enough to open; a larger one is
   * refused whole with `malformed_packet` (opening it costs work per message, not per byte).
   */
  #openable(session: Session, bundle: Uint8Array): boolean {
    let count = 0;
    for (const _ of bundleMessages(bundle)) {
      if (++count > MAX_CONTROL_BUNDLE_MESSAGES) break;
    }
    if (count <= MAX_CONTROL_BUNDLE_MESSAGES) return true;
    this.#warn(
      session,
      "malformed_packet",
      `a bundle holding a control message and over ${MAX_CONTROL_BUNDLE_MESSAGES} messages`,
    );
    const error = new ProtocolError(
      "malformed_packet",
      `A bundle that contains an /oscrouter/ message may hold at most ${MAX_CONTROL_BUNDLE_MESSAGES} messages; ` +
        "it was refused whole; send control messages alone or in small bundles",
      "#bundle",
    );
    if (this.#members.has(session)) this.sendError(session, error);
    else this.#refuse(session, error);
    return false;
  }

  #route(session: Session, member: Member, message: Uint8Array): void {
    if (isControlAddress(message, 0)) this.#control(session, member, message);
    else this.#broadcast(member, message);
  }

  #receiveUnregistered(session: Session, packet: Uint8Array, flags: number): void {
    const first = (flags & PACKET_BUNDLE) !== 0 ? bundleMessages(packet).next().value : packet;
    const message = first && this.#decode(session, first, REGISTER_ARGS);
    if (first !== undefined && message === undefined) return; // refused as malformed
    if (message?.address !== REGISTER_ADDRESS) {
      this.#refuse(
        session,
        new ProtocolError(
          "not_registered",
          `The first packet must be ${REGISTER_ADDRESS} userName userPassword groupName groupPassword [id]`,
          message?.address ?? "#bundle",
        ),
      );
      return;
    }
    const result = this.#register(session, message, first!);
    if (result === "refused" || (flags & PACKET_BUNDLE) === 0) return;
    let rest = false;
    for (const element of bundleMessages(packet)) {
      if (rest && result === "pending") {
        const pending = this.#pending.get(session);
        if (pending === undefined) return;
        this.#hold(session, pending, element);
        continue;
      }
      const member = this.#members.get(session);
      if (member === undefined) return;
      if (rest) this.#route(session, member, element);
      rest = true;
    }
  }

  /** Keeps a copy of a packet sent while the connection's register is being checked. */
  #hold(session: Session, pending: PendingRegister, packet: Uint8Array): void {
    if (pending.queue.length >= MAX_PENDING_PACKETS || pending.bytes + packet.length > MAX_PENDING_BYTES) {
      this.#warn(session, "server_busy", "a packet sent before the register was checked was dropped");
      if (!pending.toldDropped) {
        pending.toldDropped = true; // once per pending register, not per packet
        this.sendError(
          session,
          new ProtocolError(
            "server_busy",
            `Packets sent before the register reply were dropped (the router keeps ${MAX_PENDING_PACKETS} packets ` +
              `or ${MAX_PENDING_BYTES / 1024} KiB while it checks the password); ` +
              `wait for ${REGISTER_ADDRESS}/<user> before sending`,
            REGISTER_ADDRESS,
          ),
        );
      }
      return;
    }
    pending.queue.push(packet.slice());
    pending.bytes += packet.length;
  }

  /** Reads a control message's address and first `maxArgs` arguments, never the rest. */
  #decode(session: Session, message: Uint8Array, maxArgs: number): MessageHead | undefined {
    try {
      // Control messages are read leniently: their strings need not be UTF-8 (passwords are
      // "any content", a private message's payload is forwarded as bytes).
      return readMessageHead(message, maxArgs, { invalidUtf8: "replace" });
    } catch (e) {
      if (!(e instanceof OscDecodeError)) throw e;
      this.#reportMalformed(session, message, e);
      return undefined;
    }
  }

  #register(session: Session, message: MessageHead, bytes: Uint8Array): "joined" | "pending" | "refused" {
    const limited = this.#attempts.check(session.address);
    if (limited !== undefined) {
      const seconds = Math.ceil(limited.retryAfterMs / 1000);
      this.#refuse(
        session,
        new ProtocolError(
          "too_many_attempts",
          limited.reason === "backoff"
            ? `Too many failed registers from your address; retry in ${seconds} s (each further failure doubles the wait)`
            : `Too many registers from your address at once; retry in ${seconds} s`,
          REGISTER_ADDRESS,
        ),
        registerWho(message),
      );
      return "refused";
    }
    let request;
    try {
      request = parseRegister(message, rawStringArgs(bytes, 4));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#refuse(session, e);
      return "refused";
    }
    return this.#decide(session, request, new Map());
  }

  /**
   * Decides a register: join, refuse, or wait for slow password checks (declared hashes) and
   * decide again with their results, since anything may have changed meanwhile.
   *
   * @param checked results of the checks made for this register: "group" and "user" (the
   *   declared user's password), each with the hash it was checked against
   */
  #decide(session: Session, request: RegisterRequest, checked: Checked): "joined" | "pending" | "refused" {
    const { userName, groupName } = request;
    const declared = this.#config.groups.get(groupName);
    if (declared === undefined && this.#closed) {
      return this.#fail(
        session,
        request,
        new ProtocolError(
          "unknown_group",
          `Group '${groupName}' is not one of this router's groups; check the group name or ask the operator`,
          REGISTER_ADDRESS,
        ),
      );
    }
    let group = this.#groups.get(groupName);
    const known = (role: Role, hash: PasswordHash, password: Uint8Array) => {
      const result = checked.get(role);
      return result?.hash === hash.text ? result.ok : this.#verifier.known(hash, password);
    };
    const wrongGroup = () =>
      this.#fail(
        session,
        request,
        new ProtocolError(
          "wrong_group_password",
          declared
            ? `Wrong password for group '${groupName}'; check the group password`
            : `Group '${groupName}' exists with another password; check the group password or choose another group name`,
          REGISTER_ADDRESS,
        ),
      );
    const declaredUser = declared?.users.get(userName);
    if (declared !== undefined) {
      const groupOk = known("group", declared.password, request.groupPassword);
      if (groupOk === false) return wrongGroup();
      const userOk = declaredUser && known("user", declaredUser, request.userPassword);
      const unknown: [Role, PasswordHash, Uint8Array][] = [];
      if (groupOk === undefined) unknown.push(["group", declared.password, request.groupPassword]);
      if (declaredUser !== undefined && userOk === undefined) {
        unknown.push(["user", declaredUser, request.userPassword]);
      }
      if (unknown.length > 0) return this.#check(session, request, checked, unknown);
    } else if (group !== undefined && !group.password.matches(request.groupPassword)) {
      return wrongGroup();
    }
    let user = group?.users.get(userName);
    if (
      declaredUser !== undefined ? !known("user", declaredUser, request.userPassword) : declared?.usersOnly === true
    ) {
      return this.#fail(
        session,
        request,
        new ProtocolError(
          "wrong_user_password",
          declaredUser !== undefined
            ? `Wrong password for user '${userName}' of group '${groupName}'; check the user password`
            : `Group '${groupName}' admits only the users the operator declared; check the user name or ask the operator`,
          REGISTER_ADDRESS,
        ),
      );
    }
    if (declaredUser === undefined && user !== undefined && !user.password.matches(request.userPassword)) {
      return this.#fail(
        session,
        request,
        new ProtocolError(
          "wrong_user_password",
          `User '${userName}' exists in group '${groupName}' with another password; choose another user name`,
          REGISTER_ADDRESS,
        ),
      );
    }
    if (this.#cluster !== undefined && user === undefined && !checked.has("cluster")) {
      return this.#claim(session, request, checked);
    }
    if (group === undefined) {
      group = {
        name: groupName,
        password: new Secret(request.groupPassword),
        users: new Map(),
        listVersion: 0,
        listSentAt: -Infinity,
        listGapMs: 0,
        listPending: false,
      };
      this.#groups.set(groupName, group);
      logger.info("Group {group} created{declared}", { group: groupName, declared: declared ? " (declared)" : "" });
    }
    const newUser = user === undefined;
    if (user === undefined) {
      user = { name: userName, password: new Secret(request.userPassword), sessions: new Set() };
      group.users.set(userName, user);
      this.#cluster?.joined(groupName, userName);
    }
    user.sessions.add(session);
    this.#members.set(session, { user, group });
    logger.info("{user}@{group} registered from {peer} ({framing}){extra}", {
      user: userName,
      group: groupName,
      peer: session.peer,
      framing: session.framing,
      extra: newUser ? "" : `, connection ${user.sessions.size} of this user`,
    });
    this.events.record({ kind: "join", who: `${userName}@${groupName}`, address: session.peer });
    this.#deliver(session, new OutgoingPacket(registerReply(userName, request.idText)));
    if (newUser) this.#membershipChanged(group, session);
    else this.#sendListTo(session, group);
    return "joined";
  }

  /** Starts the slow checks a register needs; decides again when they end. */
  #check(
    session: Session,
    request: RegisterRequest,
    checked: Checked,
    unknown: [Role, PasswordHash, Uint8Array][],
  ): "pending" | "refused" {
    // The passwords may view the connection's read buffer, which its next read reuses before the
    // checks end: the decision after them needs copies (else an undeclared user's password would
    // be whatever the client sent next).
    request = { ...request, userPassword: request.userPassword.slice(), groupPassword: request.groupPassword.slice() };
    const checks: Promise<boolean>[] = [];
    for (const [, hash, password] of unknown) {
      const check = this.#verifier.start(hash, password, session.address);
      if (check === "busy" || check === "address_busy") {
        this.#refuse(
          session,
          check === "busy"
            ? new ProtocolError(
              "server_busy",
              "The router is checking many passwords at once; retry in a few seconds",
              REGISTER_ADDRESS,
            )
            : new ProtocolError(
              "too_many_attempts",
              "Too many registers from your address are being checked; retry in 1 s",
              REGISTER_ADDRESS,
            ),
          `${request.userName}@${request.groupName}`,
        );
        return "refused";
      }
      checks.push(check);
    }
    const pending = this.#pending.get(session) ?? { queue: [], bytes: 0 };
    this.#pending.set(session, pending);
    Promise.all(checks).then((results) => {
      if (this.#pending.get(session) !== pending) return; // closed or refused meanwhile
      const next = new Map(checked);
      for (const [i, [role, hash]] of unknown.entries()) next.set(role, { hash: hash.text, ok: results[i]! });
      this.#pending.delete(session);
      const result = this.#decide(session, request, next);
      if (result === "pending") {
        this.#pending.get(session)!.queue.unshift(...pending.queue); // the file changed meanwhile
        return;
      }
      if (result === "joined") {
        for (const packet of pending.queue) {
          if (this.#refused.has(session) || !this.#members.has(session)) break;
          this.#handle(session, packet);
        }
      }
    }, (error) => {
      if (this.#pending.get(session) !== pending) return;
      this.#pending.delete(session);
      logger.error("Checking a password failed: {error}", { error: String(error) });
      this.#refuse(
        session,
        new ProtocolError(
          "server_busy",
          "The router could not check the password; retry in a few seconds",
          REGISTER_ADDRESS,
        ),
      );
    });
    return "pending";
  }

  /** A failed register: counted against the address, logged (rate-limited, never a password), refused. */
  #fail(session: Session, request: RegisterRequest, error: ProtocolError): "refused" {
    const lockMs = this.#attempts.fail(session.address);
    const suppressed = this.#failureLog.take();
    if (suppressed >= 0) {
      logger.warn("Failed register as {user}@{group} from {address} ({peer}): {code}{lock}{suppressed}", {
        user: request.userName,
        group: request.groupName,
        address: session.address,
        peer: session.peer,
        code: error.code,
        lock: lockMs > 0 ? `; registers from this address refused for ${Math.ceil(lockMs / 1000)} s` : "",
        suppressed: suppressed > 0 ? ` (${suppressed} similar lines suppressed)` : "",
      });
    }
    this.events.record({
      kind: "refused",
      who: `${request.userName}@${request.groupName}`,
      address: session.peer,
      reason: error.code,
    });
    this.sendError(session, error);
    this.#refused.add(session);
    session.close(error.code);
    return "refused";
  }

  #control(session: Session, member: Member, packet: Uint8Array): void {
    // The three addresses clients use are recognised by their bytes; other addresses under
    // /oscrouter/ are reserved, and decoded only for the reply.
    if (startsWith(packet, PING_BYTES)) return session.markPinging?.();
    if (startsWith(packet, PRIVATE_BYTES)) return this.#private(session, member, packet);
    if (startsWith(packet, REGISTER_BYTES)) {
      return this.#controlError(session, "already_registered", () =>
        new ProtocolError(
          "already_registered",
          `This connection is already registered as '${member.user.name}'; open another connection to register again`,
          REGISTER_ADDRESS,
        ));
    }
    this.#controlError(session, "reserved_address", () => {
      const address = this.#decode(session, packet, 0)?.address;
      if (address === undefined) return undefined; // malformed: reported
      this.#warn(session, "reserved_address", address);
      return new ProtocolError(
        "reserved_address",
        `Addresses under /oscrouter/ belong to the router; '${address}' was not forwarded; use another address`,
        address,
      );
    });
  }

  #private(session: Session, member: Member, packet: Uint8Array): void {
    // The target only: the key and the payload stay bytes.
    const message = this.#decode(session, packet, 1);
    if (message === undefined) return;
    const target = message.args[0] && argText(message.args[0]);
    if (!message.more || target === undefined) {
      this.#controlError(session, "malformed_packet", () =>
        new ProtocolError(
          "malformed_packet",
          `Send ${PRIVATE_ADDRESS} targetUser key args...: a user name then a key`,
          PRIVATE_ADDRESS,
        ));
      return;
    }
    const user = member.group.users.get(target);
    const rewritten = this.#cluster && rewritePrivate(packet, member.user.name);
    const remote = rewritten !== undefined && this.#cluster!.private(member.group.name, target, rewritten);
    if (user === undefined && remote) return;
    if (user === undefined) {
      this.#warn(session, "unknown_user", `private message to '${target}', who is not in the group`);
      this.#controlError(session, "unknown_user", () =>
        new ProtocolError(
          "unknown_user",
          `No user '${target}' in group '${member.group.name}'; the message was not delivered; check /oscrouter/userlist`,
          PRIVATE_ADDRESS,
        ));
      return;
    }
    const out = new OutgoingPacket(rewritten ?? rewritePrivate(packet, member.user.name));
    for (const recipient of user.sessions) this.#deliver(recipient, out);
  }

  /**
   * Replies with an error to a control message, at most once per code within one bundle: a
   * bundle of 40,000 bad control messages would otherwise build 40,000 replies (seconds of CPU).
   * `make` builds the error only when it is sent (undefined: nothing to send).
   */
  #controlError(session: Session, code: ErrorCode, make: () => ProtocolError | undefined): void {
    if (this.#bundleReplies !== undefined) {
      if (this.#bundleReplies.has(code)) return;
      this.#bundleReplies.add(code);
    }
    const error = make();
    if (error !== undefined) this.sendError(session, error);
  }

  #broadcast(member: Member, packet: Uint8Array): void {
    const out = new OutgoingPacket(packet);
    for (const user of member.group.users.values()) {
      if (user === member.user) continue;
      for (const recipient of user.sessions) this.#deliver(recipient, out);
    }
    this.#cluster?.broadcast(member.group.name, member.user.name, packet);
  }

  /**
   * Membership changed: the group's user list goes out at once, unless one went out less than
   * the group's gap ago (members churning): then it waits for `flushUserLists`, and only a
   * newcomer gets the current list at once.
   */
  #membershipChanged(group: Group, newcomer?: Session): void {
    group.listVersion++;
    if (this.#onUserListsPending === undefined) return this.#sendUserList(group);
    const now = this.#now();
    const due = group.listSentAt + group.listGapMs;
    if (!group.listPending && now >= due) return this.#sendUserList(group);
    if (newcomer !== undefined) this.#sendListTo(newcomer, group);
    if (group.listPending) return;
    group.listPending = true;
    this.#pendingLists.add(group);
    this.#onUserListsPending(Math.max(0, due - now));
  }

  /** The current user list to one connection (a newcomer, or a new connection of a user). */
  #sendListTo(session: Session, group: Group): void {
    this.#listVersions.set(session, group.listVersion);
    this.#deliver(session, new OutgoingPacket(userListPacket(this.#userNames(group))));
  }

  /** The current user list to every connection of the group that does not have it yet. */
  #sendUserList(group: Group): void {
    const out = new OutgoingPacket(userListPacket(this.#userNames(group)));
    let bytes = 0;
    for (const user of group.users.values()) {
      for (const recipient of user.sessions) {
        if (this.#listVersions.get(recipient) === group.listVersion) continue;
        this.#listVersions.set(recipient, group.listVersion);
        this.#deliver(recipient, out);
        bytes += out.packet.length;
      }
    }
    const { minMs, maxMs, bytesPerSecond } = this.#userList;
    group.listSentAt = this.#now();
    group.listGapMs = Math.min(maxMs, Math.max(minMs, bytes * 1000 / bytesPerSecond));
  }

  /** The group's user names in join order: the whole cluster's with `--cluster`, else this router's. */
  #userNames(group: Group): Iterable<string> {
    return this.#cluster?.userNames(group.name, group.users.keys()) ?? group.users.keys();
  }

  /**
   * A packet a member of `groupName` sent on another instance of the cluster: it goes to every
   * connection here of every user but the sender (who may have connections here too).
   *
   * @param groupName the group
   * @param sender the sending user's name
   * @param packet the packet's bytes, as sent
   */
  deliverRemote(groupName: string, sender: string, packet: Uint8Array): void {
    const group = this.#groups.get(groupName);
    if (group === undefined) return;
    const out = new OutgoingPacket(packet);
    for (const user of group.users.values()) {
      if (user.name === sender) continue;
      for (const recipient of user.sessions) this.#deliver(recipient, out);
    }
  }

  /**
   * A private message from another instance of the cluster (already rewritten with its
   * sender's name): it goes to every connection here of `target`.
   *
   * @param groupName the group
   * @param target the user it is for
   * @param packet the rewritten `/oscrouter/private` message
   */
  deliverRemotePrivate(groupName: string, target: string, packet: Uint8Array): void {
    const user = this.#groups.get(groupName)?.users.get(target);
    if (user === undefined) return;
    const out = new OutgoingPacket(packet);
    for (const recipient of user.sessions) this.#deliver(recipient, out);
  }

  /**
   * The group's membership changed on another instance: its members here get the new user list.
   *
   * @param groupName the group
   */
  clusterChanged(groupName: string): void {
    const group = this.#groups.get(groupName);
    if (group !== undefined) this.#membershipChanged(group);
  }

  /** Asks the cluster to admit a register (its shared state is elsewhere); decides again when it answers. */
  #claim(session: Session, request: RegisterRequest, checked: Checked): "pending" {
    // The passwords may view the connection's read buffer, which is reused (or given back to the
    // pool, resized to nothing) before the cluster answers: the claim and the decision need copies.
    request = { ...request, userPassword: request.userPassword.slice(), groupPassword: request.groupPassword.slice() };
    const pending = this.#pending.get(session) ?? { queue: [], bytes: 0 };
    this.#pending.set(session, pending);
    const failed = (error: ProtocolError) => {
      if (this.#pending.get(session) !== pending) return; // closed meanwhile
      this.#pending.delete(session);
      if (error.code === "server_busy" || error.code === "too_many_attempts") {
        this.#refuse(session, error, `${request.userName}@${request.groupName}`);
      } else this.#fail(session, request, error);
    };
    this.#cluster!.claim(request, session.address).then((refusal) => {
      if (refusal !== undefined) return failed(refusal);
      if (this.#pending.get(session) !== pending) return;
      this.#pending.delete(session);
      const result = this.#decide(session, request, new Map(checked).set("cluster", { hash: "", ok: true }));
      if (result === "pending") {
        this.#pending.get(session)!.queue.unshift(...pending.queue);
      } else if (result === "joined") {
        for (const packet of pending.queue) {
          if (this.#refused.has(session) || !this.#members.has(session)) break;
          this.#handle(session, packet);
        }
      }
    }, (error) => {
      logger.error("Asking the cluster about a register failed: {error}", { error: String(error) });
      failed(
        new ProtocolError(
          "server_busy",
          "The router could not reach its cluster; retry in a few seconds",
          REGISTER_ADDRESS,
        ),
      );
    });
    return "pending";
  }

  #deliver(session: Session, out: OutgoingPacket): void {
    this.counters.packetsOut++;
    this.counters.bytesOut += out.packet.length;
    session.send(out);
  }

  #reportMalformed(session: Session, packet: Uint8Array, error: OscDecodeError): void {
    const context = addressOf(packet);
    this.#warn(session, "malformed_packet", `${error.message} (${context || "no address"})`);
    const protocolError = new ProtocolError(
      "malformed_packet",
      `Packet is not valid OSC: ${error.message}; it was not forwarded`,
      context,
    );
    if (this.#members.has(session)) this.sendError(session, protocolError);
    else this.#refuse(session, protocolError);
  }

  /** Refuses a connection; `who` names the user@group a register asked for, when known. */
  #refuse(session: Session, error: ProtocolError, who: string | undefined = this.describe(session)): void {
    this.#warn(session, error.code, error.message, who);
    this.events.record({ kind: "refused", who, address: session.peer, reason: error.code });
    this.sendError(session, error);
    this.#refused.add(session);
    session.close(error.code);
  }

  #warn(session: Session, code: ErrorCode, detail: string, who: string | undefined = this.describe(session)): void {
    const suppressed = this.#warnings.take();
    if (suppressed < 0) return;
    logger.warn("{code} from {peer} ({who}): {detail}{suppressed}", {
      code,
      peer: session.peer,
      who: who ?? "not registered",
      detail,
      suppressed: suppressed > 0 ? ` (similar warnings suppressed: ${suppressed})` : "",
    });
  }
}

const lenientUtf8 = new TextDecoder("utf-8");

/** "user@group" of a register message, for logs and the status page; undefined if it names neither. */
function registerWho(message: MessageHead): string | undefined {
  const user = message.args[0] && argText(message.args[0]);
  const group = message.args[2] && argText(message.args[2]);
  return user !== undefined && group !== undefined ? `${user}@${group}` : undefined;
}

/** Address and type tags of a valid packet, never argument values (a register carries passwords). */
function describePacket(packet: Uint8Array, flags: number): string {
  if ((flags & PACKET_BUNDLE) !== 0) {
    const addresses = [...bundleMessages(packet)].map((m) => addressOf(m));
    return `#bundle of ${packet.length} bytes: ${addresses.join(", ")}`;
  }
  const tags = skipString(packet, 0, packet.length);
  return `${addressOf(packet)} ${
    lenientUtf8.decode(packet.subarray(tags, packet.indexOf(0, tags)))
  } (${packet.length} bytes)`;
}

/** Whether `bytes` starts with `prefix`. */
function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[i] !== prefix[i]) return false;
  }
  return true;
}

/** Best effort: the address of a packet that may be malformed, or "". */
function addressOf(packet: Uint8Array): string {
  if (packet[0] !== 0x2f) return "";
  const nul = packet.indexOf(0);
  if (nul === -1 || nul > 1024) return "";
  return lenientUtf8.decode(packet.subarray(0, nul));
}
