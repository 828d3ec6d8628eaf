/**
 * The router: sessions, users and groups; register, broadcast, private messages and
 * user lists (PROTOCOL.md sections 2 to 5). Pure logic: no I/O, no timers, synchronous.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { OutgoingPacket } from "../framing/outgoing.ts";
import { decodePacket } from "../osc/codec.ts";
import { OscDecodeError } from "../osc/errors.ts";
import type { OscMessage } from "../osc/types.ts";
import {
  bundleMessages,
  isControlAddress,
  PACKET_BUNDLE,
  PACKET_CONTROL,
  scanPacket,
  skipString,
} from "../osc/validate.ts";
import { argText } from "./arg_text.ts";
import { ERROR_CODES, type ErrorCode, ProtocolError } from "./error_code.ts";
import { PRIVATE_ADDRESS, rewritePrivate } from "./private_message.ts";
import { parseRegister, rawStringArgs, REGISTER_ADDRESS } from "./register.ts";
import { errorPacket, registerReply, userListPacket } from "./replies.ts";
import { Secret } from "./secret.ts";
import type { Session } from "./session.ts";
import { WarningLimiter } from "./warning_limiter.ts";

const PING_ADDRESS = "/oscrouter/ping";
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
}

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
  /** Clock in milliseconds, for the warning rate limit (tests inject one). */
  now?: () => number;
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
  /** Per-packet debug lines cost a check per packet; decided once, when the router is made. */
  #debug = logger.isEnabledFor("debug");
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
    this.#warnings = new WarningLimiter({ burst: 20, perSecond: 2, ...(options.now ? { now: options.now } : {}) });
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
  }

  /**
   * A session's connection closed: it leaves its user; a user with no connection left
   * leaves its group; an empty group is removed.
   *
   * @param session the closed connection
   */
  leave(session: Session): void {
    this.#refused.delete(session);
    const member = this.#members.get(session);
    if (member === undefined) return;
    this.#members.delete(session);
    const { user, group } = member;
    user.sessions.delete(session);
    if (user.sessions.size > 0) return;
    group.users.delete(user.name);
    logger.info("{user}@{group} left ({peer}); {count} users remain in the group", {
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
    this.#sendUserList(group);
  }

  /**
   * Refuses a session that did not register in time (the server keeps the clock).
   *
   * @param session a connection that is not registered
   * @param seconds the timeout, for the message
   */
  expire(session: Session, seconds: number): void {
    if (this.#members.has(session) || this.#refused.has(session)) return;
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

  #route(session: Session, member: Member, message: Uint8Array): void {
    if (isControlAddress(message, 0)) this.#control(session, member, message);
    else this.#broadcast(member, message);
  }

  #receiveUnregistered(session: Session, packet: Uint8Array, flags: number): void {
    const first = (flags & PACKET_BUNDLE) !== 0 ? bundleMessages(packet).next().value : packet;
    const message = first && this.#decode(session, first);
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
    if (!this.#register(session, message, first!)) return;
    if ((flags & PACKET_BUNDLE) === 0) return;
    let rest = false;
    for (const element of bundleMessages(packet)) {
      const member = this.#members.get(session);
      if (member === undefined) return;
      if (rest) this.#route(session, member, element);
      rest = true;
    }
  }

  #decode(session: Session, message: Uint8Array): OscMessage | undefined {
    try {
      // Control messages are read leniently: their strings need not be UTF-8 (passwords are
      // "any content", a private message's payload is forwarded as bytes).
      return decodePacket(message, { invalidUtf8: "replace" }) as OscMessage;
    } catch (e) {
      if (!(e instanceof OscDecodeError)) throw e;
      this.#reportMalformed(session, message, e);
      return undefined;
    }
  }

  #register(session: Session, message: OscMessage, bytes: Uint8Array): boolean {
    let request;
    try {
      request = parseRegister(message, rawStringArgs(bytes, 4));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#refuse(session, e);
      return false;
    }
    const { userName, groupName } = request;
    let group = this.#groups.get(groupName);
    if (group !== undefined && !group.password.matches(request.groupPassword)) {
      this.#refuse(
        session,
        new ProtocolError(
          "wrong_group_password",
          `Group '${groupName}' exists with another password; check the group password or choose another group name`,
          REGISTER_ADDRESS,
        ),
      );
      return false;
    }
    let user = group?.users.get(userName);
    if (user !== undefined && !user.password.matches(request.userPassword)) {
      this.#refuse(
        session,
        new ProtocolError(
          "wrong_user_password",
          `User '${userName}' exists in group '${groupName}' with another password; choose another user name`,
          REGISTER_ADDRESS,
        ),
      );
      return false;
    }
    if (group === undefined) {
      group = { name: groupName, password: new Secret(request.groupPassword), users: new Map() };
      this.#groups.set(groupName, group);
      logger.info("Group {group} created", { group: groupName });
    }
    const newUser = user === undefined;
    if (user === undefined) {
      user = { name: userName, password: new Secret(request.userPassword), sessions: new Set() };
      group.users.set(userName, user);
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
    this.#deliver(session, new OutgoingPacket(registerReply(userName, request.idText)));
    if (newUser) this.#sendUserList(group);
    else this.#deliver(session, new OutgoingPacket(userListPacket(group.users.keys())));
    return true;
  }

  #control(session: Session, member: Member, packet: Uint8Array): void {
    const message = this.#decode(session, packet);
    if (message === undefined) return;
    switch (message.address) {
      case PING_ADDRESS:
        return session.markPinging?.();
      case PRIVATE_ADDRESS:
        return this.#private(session, member, message, packet);
      case REGISTER_ADDRESS:
        return this.sendError(
          session,
          new ProtocolError(
            "already_registered",
            `This connection is already registered as '${member.user.name}'; open another connection to register again`,
            REGISTER_ADDRESS,
          ),
        );
      default:
        this.#warn(session, "reserved_address", message.address);
        return this.sendError(
          session,
          new ProtocolError(
            "reserved_address",
            `Addresses under /oscrouter/ belong to the router; '${message.address}' was not forwarded; use another address`,
            message.address,
          ),
        );
    }
  }

  #private(session: Session, member: Member, message: OscMessage, packet: Uint8Array): void {
    const target = message.args[0] && argText(message.args[0]);
    if (message.args.length < 2 || target === undefined) {
      this.sendError(
        session,
        new ProtocolError(
          "malformed_packet",
          `Send ${PRIVATE_ADDRESS} targetUser key args...: a user name then a key`,
          PRIVATE_ADDRESS,
        ),
      );
      return;
    }
    const user = member.group.users.get(target);
    if (user === undefined) {
      this.sendError(
        session,
        new ProtocolError(
          "unknown_user",
          `No user '${target}' in group '${member.group.name}'; the message was not delivered; check /oscrouter/userlist`,
          PRIVATE_ADDRESS,
        ),
      );
      return;
    }
    const out = new OutgoingPacket(rewritePrivate(packet, member.user.name));
    for (const recipient of user.sessions) this.#deliver(recipient, out);
  }

  #broadcast(member: Member, packet: Uint8Array): void {
    const out = new OutgoingPacket(packet);
    for (const user of member.group.users.values()) {
      if (user === member.user) continue;
      for (const recipient of user.sessions) this.#deliver(recipient, out);
    }
  }

  #sendUserList(group: Group): void {
    const out = new OutgoingPacket(userListPacket(group.users.keys()));
    for (const user of group.users.values()) {
      for (const recipient of user.sessions) this.#deliver(recipient, out);
    }
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

  #refuse(session: Session, error: ProtocolError): void {
    this.#warn(session, error.code, error.message);
    this.sendError(session, error);
    this.#refused.add(session);
    session.close(error.code);
  }

  #warn(session: Session, code: ErrorCode, detail: string): void {
    const suppressed = this.#warnings.take();
    if (suppressed < 0) return;
    logger.warn("{code} from {peer} ({who}): {detail}{suppressed}", {
      code,
      peer: session.peer,
      who: this.describe(session) ?? "not registered",
      detail,
      suppressed: suppressed > 0 ? ` (${suppressed} similar warnings suppressed)` : "",
    });
  }
}

const lenientUtf8 = new TextDecoder("utf-8");

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

/** Best effort: the address of a packet that may be malformed, or "". */
function addressOf(packet: Uint8Array): string {
  if (packet[0] !== 0x2f) return "";
  const nul = packet.indexOf(0);
  if (nul === -1 || nul > 1024) return "";
  return lenientUtf8.decode(packet.subarray(0, nul));
}
