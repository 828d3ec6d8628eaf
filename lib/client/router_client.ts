/**
 * A client of one router connection: connect over TCP with either framing, register, send,
 * receive, the group's user list, close. The bridge, the TypeScript example, the tests' client
 * and the load benchmark are all built on it.
 *
 * @module
 */

import { encodeFrame } from "../framing/by_framing.ts";
import { concatBytes } from "../framing/concat.ts";
import type { Framing } from "../framing/detect.ts";
import type { FramingError } from "../framing/errors.ts";
import { decodePacket, encodeMessage } from "../osc/codec.ts";
import type { OscArg, OscPacket } from "../osc/types.ts";
import type { ErrorCode } from "../protocol/error_code.ts";
import { REGISTER_ADDRESS } from "../protocol/names.ts";
import { registerReplyAddress } from "../protocol/replies.ts";
import { type PacketSource, readPackets } from "./read_packets.ts";

/** What the client needs of a connection: a `Deno.TcpConn`, or anything that reads and writes like one. */
export interface RouterConnection extends PacketSource {
  /**
   * Writes some of `bytes`.
   *
   * @param bytes what to write
   * @returns how many bytes were written
   */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes the connection; a pending read then ends or rejects. */
  close(): void;
}

/** Options of a `RouterClient`. */
export interface RouterClientOptions {
  /** The connection's framing (default `"length-prefix"`, the router's port 55555; `"slip"` for 55556). */
  framing?: Framing;
  /** Largest packet accepted from the router (default 16 MiB). */
  maxPacketBytes?: number;
}

/** Where `RouterClient.connect` connects, and how. */
export interface ConnectOptions extends RouterClientOptions {
  /** The router's host name or address. */
  hostname: string;
  /** The router's port. */
  port: number;
  /** Turn TCP keep-alive on (default off), for a connection that may stay idle for hours. */
  keepAlive?: boolean;
}

/** What a register sends: who, in which group, and the id the router echoes in its reply. */
export interface Credentials {
  /** The user name. */
  user: string;
  /** The user's password. */
  password: string;
  /** The group name. */
  group: string;
  /** The group's password. */
  groupPassword: string;
  /** The id echoed in the reply: an integer goes as `i`, a string as `s` (default: a random integer). */
  id?: number | string;
}

/** An `/oscrouter/error` from the router. */
export interface RouterError {
  /** The router's error code (PROTOCOL.md section 5); a newer router may send one this client does not know. */
  code: ErrorCode | (string & Record<never, never>);
  /** The router's sentence: what went wrong and what to do. */
  message: string;
  /** The address of the packet it is about, or "". */
  context: string;
}

/** Why a register did not succeed: a code of PROTOCOL.md section 5, or `closed` (the connection ended first). */
export type RegisterRefusalCode = ErrorCode | "closed";

/**
 * The router refused a register (or closed the connection before it answered).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegisterError } from "./router_client.ts";
 * const error = new RegisterError("wrong_group_password", "Ask the group for its password", "/oscrouter/register");
 * assert.equal(error.code, "wrong_group_password");
 * assert.equal(error.message, "wrong_group_password: Ask the group for its password");
 * ```
 */
export class RegisterError extends Error {
  /** The router's error code, e.g. `wrong_user_password`, or `closed`. */
  readonly code: RegisterRefusalCode | (string & Record<never, never>);
  /** The router's sentence alone (the message is prefixed with the code). */
  readonly reason: string;
  /** The address the router's error is about, or "". */
  readonly context: string;

  /**
   * A refused register.
   *
   * @param code the router's error code, or `closed`
   * @param reason the router's sentence (what went wrong, what to do)
   * @param context the address the error is about, or ""
   */
  constructor(code: RegisterRefusalCode | (string & Record<never, never>), reason: string, context = "") {
    super(`${code}: ${reason}`);
    this.name = "RegisterError";
    this.code = code;
    this.reason = reason;
    this.context = context;
  }
}

/**
 * The register message for `credentials` (PROTOCOL.md section 2).
 *
 * @param credentials who registers, where, and the id to echo
 * @returns the packet
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket } from "../osc/codec.ts";
 * import { registerMessage } from "./router_client.ts";
 * const m = decodePacket(registerMessage({ user: "ana", password: "a", group: "band", groupPassword: "g", id: 7 }));
 * assert.deepEqual(m, { address: "/oscrouter/register", args: [
 *   { type: "s", value: "ana" }, { type: "s", value: "a" }, { type: "s", value: "band" }, { type: "s", value: "g" },
 *   { type: "i", value: 7 },
 * ] });
 * ```
 */
export function registerMessage(credentials: Credentials & { id: number | string }): Uint8Array {
  const s = (value: string): OscArg => ({ type: "s", value });
  const { user, password, group, groupPassword, id } = credentials;
  return encodeMessage({
    address: REGISTER_ADDRESS,
    args: [s(user), s(password), s(group), s(groupPassword), typeof id === "number" ? { type: "i", value: id } : s(id)],
  });
}

const ROUTER_PREFIX = new TextEncoder().encode("/oscrouter/");
const PRIVATE_ADDRESS = "/oscrouter/private";
const USERLIST_ADDRESS = "/oscrouter/userlist";
const ERROR_ADDRESS = "/oscrouter/error";
const DEFAULT_MAX_PACKET_BYTES = 16 * 1024 * 1024;

/** A register waiting for its reply, then for the user list that follows it. */
interface PendingRegister {
  /** The reply's address and its terminating NUL, as bytes. */
  reply: Uint8Array;
  replied: boolean;
  resolve: (users: string[]) => void;
  reject: (error: RegisterError) => void;
}

/**
 * A client of one router connection.
 *
 * Everything the router sends reaches `onPacket` as bytes (but the reply to `register()`, which
 * it consumes); `onMessage` gets the group's packets decoded, `onError` the router's errors, and
 * `users` follows the group's user list. Writes are queued in order and written in batches. An
 * exception thrown by a callback stops reading, as if the connection had ended.
 *
 * @example Usage
 * ```ts ignore
 * import { RouterClient } from "./router_client.ts";
 * const client = await RouterClient.connect({ hostname: "127.0.0.1", port: 55555 });
 * client.onMessage = (m) => console.log("from the group:", m);
 * client.onError = (e) => console.warn(`router error ${e.code}: ${e.message}`);
 * const users = await client.register({ user: "ana", password: "anaSecret", group: "band", groupPassword: "bandSecret" });
 * await client.send("/note", { type: "i", value: 60 }, { type: "f", value: 0.5 });
 * await client.sendPrivate("bob", "whispa", { type: "s", value: "hi" });
 * client.close();
 * await client.closed;
 * ```
 */
export class RouterClient {
  /**
   * Every packet from the router, as bytes, in order (not the reply that `register()` consumes).
   * The bytes are a view of the read buffer, valid only during the call: copy what you keep.
   */
  onPacket: (packet: Uint8Array) => void = () => {};
  /** The group's messages and bundles and private messages, decoded (not the router's own replies). */
  onMessage: ((packet: OscPacket) => void) | undefined;
  /** Errors the router reports. */
  onError: (error: RouterError) => void = () => {};
  /** A frame from the router that cannot be deframed; throw to stop reading. */
  onFramingError: (error: FramingError) => void = () => {};
  /** The group's user names, updated on every change. */
  users: string[] = [];
  /** The connection's framing. */
  readonly framing: Framing;
  /** Settles when reading has ended (the router closed, or `close()`) and no write is in flight. */
  readonly closed: Promise<void>;
  #conn: RouterConnection;
  #register: PendingRegister | undefined;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing: Promise<void> | undefined;

  /**
   * A client on a connection that is already open (`connect` opens one).
   *
   * @param conn the connection
   * @param options its framing and the packet size limit
   */
  constructor(conn: RouterConnection, options: RouterClientOptions = {}) {
    this.#conn = conn;
    this.framing = options.framing ?? "length-prefix";
    this.closed = this.#read(options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES);
  }

  /**
   * Opens a TCP connection to a router (with Nagle off, as a live instrument wants).
   *
   * @param options where, which framing, the packet size limit, keep-alive
   * @returns the client
   */
  static async connect(options: ConnectOptions): Promise<RouterClient> {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    conn.setNoDelay(true);
    if (options.keepAlive) conn.setKeepAlive(true);
    const { framing, maxPacketBytes } = options;
    return new RouterClient(conn, {
      ...(framing !== undefined && { framing }),
      ...(maxPacketBytes !== undefined && { maxPacketBytes }),
    });
  }

  /** Bytes queued or being written. */
  get pendingBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Registers: resolves to the group's user list once the router has answered (its reply, then
   * the list), rejects with a `RegisterError` carrying the router's code if it refuses.
   *
   * @param credentials who, where, and optionally the id to echo
   * @returns the group's user names
   */
  register(credentials: Credentials): Promise<string[]> {
    const id = credentials.id ?? Math.floor(Math.random() * 1e6);
    const { promise, resolve, reject } = Promise.withResolvers<string[]>();
    this.#register?.reject(new RegisterError("closed", "Another register was sent on this connection"));
    this.#register = {
      reply: new TextEncoder().encode(registerReplyAddress(credentials.user, String(id)) + "\0"),
      replied: false,
      resolve,
      reject,
    };
    this.sendPacket(registerMessage({ ...credentials, id })).catch(() => {
      // the read side sees the connection end, and rejects the register then
    });
    return promise;
  }

  /**
   * Sends a message to everyone else in the group.
   *
   * @param address the OSC address
   * @param args the arguments
   * @returns settles once it is written
   */
  send(address: string, ...args: OscArg[]): Promise<void> {
    return this.sendPacket(encodeMessage({ address, args }));
  }

  /**
   * Sends a private message: it arrives as `/oscrouter/private <yourName> key args...`.
   *
   * @param user the recipient's user name
   * @param key what the recipient dispatches on
   * @param args the arguments
   * @returns settles once it is written
   */
  sendPrivate(user: string, key: string, ...args: OscArg[]): Promise<void> {
    return this.send(PRIVATE_ADDRESS, { type: "s", value: user }, { type: "s", value: key }, ...args);
  }

  /**
   * Frames and sends a packet's bytes.
   *
   * @param packet an OSC packet
   * @returns settles once it is written; rejects if the connection fails
   */
  sendPacket(packet: Uint8Array): Promise<void> {
    return this.sendRaw(encodeFrame(this.framing, packet));
  }

  /**
   * Sends bytes as they are (frames built by the caller), after what is queued already.
   *
   * @param bytes what to write; kept until written, so do not change them meanwhile
   * @returns settles once they are written; rejects if the connection fails
   */
  sendRaw(bytes: Uint8Array): Promise<void> {
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    return this.#writing ??= this.#write();
  }

  /** Closes the connection (what is still queued is not sent); await `closed` after. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #write(): Promise<void> {
    // Start on the next microtask, so that `#writing` is set before this can finish (a write that
    // throws at once would otherwise clear it first and leave a settled promise there for good).
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.length === 1 ? this.#queue[0]! : concatBytes(this.#queue, this.#queuedBytes);
        this.#queue = [];
        let written = 0;
        try {
          while (written < batch.length) written += await this.#conn.write(batch.subarray(written));
        } finally {
          this.#queuedBytes -= batch.length;
        }
      }
    } catch (error) {
      this.#queue = [];
      this.#queuedBytes = 0;
      throw error;
    } finally {
      this.#writing = undefined;
    }
  }

  async #read(maxPacketBytes: number): Promise<void> {
    try {
      await readPackets(this.#conn, this.framing, { maxPacketBytes }, (items) => {
        for (const item of items) {
          if (item instanceof Uint8Array) this.#dispatch(item);
          else this.onFramingError(item);
        }
      });
    } catch {
      // closed by us, reset by the router, or stopped by onFramingError
    }
    this.#register?.reject(new RegisterError("closed", "The connection ended before the router answered the register"));
    this.#register = undefined;
    await this.#writing?.catch(() => {});
  }

  #dispatch(packet: Uint8Array): void {
    const pending = this.#register;
    if (pending !== undefined && !pending.replied && startsWith(packet, pending.reply)) {
      pending.replied = true;
      return;
    }
    if (!startsWith(packet, ROUTER_PREFIX)) {
      this.onPacket(packet);
      if (this.onMessage !== undefined) this.#decodeFor(this.onMessage, packet);
      return;
    }
    let message;
    try {
      message = decodePacket(packet);
    } catch {
      return this.onPacket(packet); // not OSC: the router never sends that
    }
    if ("address" in message && message.address === USERLIST_ADDRESS) {
      this.users = message.args.map(text);
      if (pending?.replied) {
        this.#register = undefined;
        pending.resolve(this.users);
      }
    }
    if ("address" in message && message.address === ERROR_ADDRESS) {
      const [code, reason, context] = [text(message.args[0]), text(message.args[1]), text(message.args[2])];
      if (pending !== undefined && !pending.replied) {
        this.#register = undefined;
        pending.reject(new RegisterError(code, reason, context));
      }
      this.onError({ code, message: reason, context });
    }
    this.onPacket(packet);
    if ("address" in message && message.address === PRIVATE_ADDRESS) this.onMessage?.(message);
  }

  #decodeFor(handler: (packet: OscPacket) => void, packet: Uint8Array): void {
    let decoded;
    try {
      decoded = decodePacket(packet);
    } catch {
      return; // the router forwards only valid OSC
    }
    handler(decoded);
  }
}

function text(arg: OscArg | undefined): string {
  return arg !== undefined && "value" in arg && typeof arg.value === "string" ? arg.value : "";
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
