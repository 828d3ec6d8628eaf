/**
 * A small tcposcrouter client for Deno: connect, register, send, receive, user list, errors.
 *
 * ```ts
 * import { RouterClient } from "./examples/client.ts";
 * const client = await RouterClient.connect({ hostname: "127.0.0.1", port: 55555 });
 * client.onMessage = (m) => console.log("from the group:", m.address, m.args);
 * client.onError = (e) => console.warn(`router error ${e.code}: ${e.message}`);
 * const users = await client.register({ user: "ana", password: "anaSecret", group: "band", groupPassword: "bandSecret" });
 * await client.send("/note", { type: "i", value: 60 }, { type: "f", value: 0.5 });
 * await client.sendPrivate("bob", "whispa", { type: "s", value: "hi" });
 * client.close();
 * ```
 *
 * Run it as a script to join a group and print what arrives:
 * `deno run --allow-net examples/client.ts HOST PORT USER GROUP` (passwords from the
 * environment variables TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD).
 *
 * @module
 */

import { createDecoder, encodeFrame } from "../lib/framing/by_framing.ts";
import type { Framing } from "../lib/framing/detect.ts";
import type { Deframed } from "../lib/framing/errors.ts";
import { decodePacket, encodeMessage } from "../lib/osc/codec.ts";
import type { OscArg, OscMessage, OscPacket } from "../lib/osc/types.ts";

/** An `/oscrouter/error` from the router. */
export interface RouterError {
  code: string;
  message: string;
  context: string;
}

/** A client of one router connection. */
export class RouterClient {
  /** Every message or bundle from the group (not the router's own replies). */
  onMessage: (packet: OscPacket) => void = () => {};
  /** Errors the router reports. */
  onError: (error: RouterError) => void = () => {};
  /** The group's user names, updated on every change. */
  users: string[] = [];
  #conn: Deno.TcpConn;
  #framing: Framing;
  #waiting: ((m: OscMessage) => boolean)[] = [];
  readonly closed: Promise<void>;

  private constructor(conn: Deno.TcpConn, framing: Framing) {
    this.#conn = conn;
    this.#framing = framing;
    this.closed = this.#readLoop();
  }

  /** Opens a connection (port 55555 uses the length prefix; pass `framing: "slip"` for 55556). */
  static async connect(options: { hostname: string; port: number; framing?: Framing }): Promise<RouterClient> {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    conn.setNoDelay(true);
    return new RouterClient(conn, options.framing ?? "length-prefix");
  }

  /** Registers; resolves to the user list, rejects with the router's error. */
  register(r: { user: string; password: string; group: string; groupPassword: string }): Promise<string[]> {
    const id = String(Math.floor(Math.random() * 1e6));
    const reply = `/oscrouter/register/${r.user}/${id}`;
    const s = (value: string): OscArg => ({ type: "s", value });
    let registered = false;
    const result = new Promise<string[]>((resolve, reject) => {
      // Returns true once it is done: the reply then the user list, or an error.
      this.#waiting.push((m) => {
        if (m.address === reply) registered = true;
        else if (registered && m.address === "/oscrouter/userlist") resolve(this.users);
        else if (m.address === "/oscrouter/error") reject(new Error(`register failed: ${JSON.stringify(m.args)}`));
        else return false;
        return m.address !== reply;
      });
    });
    void this.#write(encodeMessage({
      address: "/oscrouter/register",
      args: [s(r.user), s(r.password), s(r.group), s(r.groupPassword), s(id)],
    }));
    return result;
  }

  /** Sends a message to everyone else in the group. */
  send(address: string, ...args: OscArg[]): Promise<void> {
    return this.#write(encodeMessage({ address, args }));
  }

  /** Sends a private message: it arrives as `/oscrouter/private <yourName> key args...`. */
  sendPrivate(user: string, key: string, ...args: OscArg[]): Promise<void> {
    return this.send("/oscrouter/private", { type: "s", value: user }, { type: "s", value: key }, ...args);
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #write(packet: Uint8Array): Promise<void> {
    const frame = encodeFrame(this.#framing, packet);
    let written = 0;
    while (written < frame.length) written += await this.#conn.write(frame.subarray(written));
  }

  async #readLoop(): Promise<void> {
    const decoder = createDecoder(this.#framing, { maxPacketBytes: 16 << 20 });
    const buffer = new Uint8Array(64 * 1024);
    const out: Deframed[] = [];
    try {
      for (;;) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        decoder.push(buffer.subarray(0, n), out);
        for (const item of out) if (item instanceof Uint8Array) this.#dispatch(decodePacket(item));
        out.length = 0;
      }
    } catch {
      // closed
    }
  }

  #dispatch(packet: OscPacket): void {
    if (!("address" in packet) || !packet.address.startsWith("/oscrouter/")) return this.onMessage(packet);
    const text = (a: OscArg | undefined) => a && "value" in a && typeof a.value === "string" ? a.value : "";
    if (packet.address === "/oscrouter/userlist") this.users = packet.args.map(text);
    if (packet.address === "/oscrouter/error") {
      this.onError({ code: text(packet.args[0]), message: text(packet.args[1]), context: text(packet.args[2]) });
    }
    if (packet.address === "/oscrouter/private") this.onMessage(packet);
    this.#waiting = this.#waiting.filter((w) => !w(packet));
  }
}

function show(arg: OscArg): string {
  return "value" in arg ? String(arg.value) : arg.type;
}

if (import.meta.main) {
  const [hostname = "127.0.0.1", port = "55555", user = "deno", group = "band"] = Deno.args;
  const client = await RouterClient.connect({ hostname, port: Number(port) });
  client.onMessage = (p) => console.log("address" in p ? `${p.address} ${p.args.map(show).join(" ")}` : "#bundle", "");
  client.onError = (e) => console.error(`router error ${e.code}: ${e.message}`);
  const users = await client.register({
    user,
    password: Deno.env.get("TCPOSCROUTER_USER_PASSWORD") ?? "",
    group,
    groupPassword: Deno.env.get("TCPOSCROUTER_GROUP_PASSWORD") ?? "",
  });
  console.log(`joined ${group} as ${user}; users: ${users.join(", ")}`);
  await client.closed;
}
