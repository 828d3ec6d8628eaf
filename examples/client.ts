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
 * Run it as a script to join a group, say hello, print what arrives and send each line you type
 * as `/chat` (Ctrl-D leaves). Arguments: HOST PORT USER GROUP (defaults: 127.0.0.1 55555 carol
 * band); the passwords come from the environment, never from the command line:
 *
 * ```sh
 * TCPOSCROUTER_USER_PASSWORD=carolSecret TCPOSCROUTER_GROUP_PASSWORD=bandSecret deno run --allow-net --allow-env examples/client.ts 127.0.0.1 55555 carol band
 * ```
 *
 * The SuperCollider example joins as `ana` and the Pure Data one as `bob`, all in `band` with
 * the group password `bandSecret`: run any two and they talk to each other.
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

/** The router refused a register: its error code and sentence. */
export class RegisterError extends Error {
  /**
   * @param code the router's error code, e.g. `wrong_user_password`
   * @param message the router's sentence (what went wrong, what to do)
   */
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = "RegisterError";
  }
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

  /** Registers; resolves to the user list, rejects with a `RegisterError` carrying the router's code. */
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
        else if (m.address === "/oscrouter/error") {
          const [code, message] = m.args.map((a) => "value" in a ? String(a.value) : "");
          reject(new RegisterError(code ?? "", message ?? ""));
        } else return false;
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

/** The script: plain messages and exit codes (2 usage, 1 refused or unreachable), never a stack trace. */
async function script(args: string[]): Promise<number> {
  const [hostname = "127.0.0.1", portText = "55555", user = "carol", group = "band"] = args;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`error: '${portText}' is not a port; usage: examples/client.ts HOST PORT USER GROUP`);
    return 2;
  }
  let password: string | undefined, groupPassword: string | undefined;
  try {
    password = Deno.env.get("TCPOSCROUTER_USER_PASSWORD");
    groupPassword = Deno.env.get("TCPOSCROUTER_GROUP_PASSWORD");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    console.error(
      "error: the passwords come from the environment: run with --allow-env (deno run --allow-net --allow-env examples/client.ts ...)",
    );
    return 2;
  }
  if (password === undefined || groupPassword === undefined) {
    console.error(
      "error: set TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD (your password and the group's)",
    );
    return 2;
  }
  let client: RouterClient;
  try {
    client = await RouterClient.connect({ hostname, port });
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/\s*\(os error \d+\)/, "") : String(error);
    console.error(`error: cannot connect to ${hostname}:${port}: ${why}; is the router running there?`);
    return 1;
  }
  client.onMessage = (p) => {
    if (!("address" in p)) console.log("a bundle");
    else if (p.address === "/oscrouter/private") {
      const [from, ...rest] = p.args.map(show);
      console.log(`private from ${from}: ${rest.join(" ")}`);
    } else console.log(`${p.address} ${p.args.map(show).join(" ")}`);
  };
  let users: string[];
  try {
    users = await client.register({ user, password, group, groupPassword });
  } catch (error) {
    if (!(error instanceof RegisterError)) throw error;
    console.error(`error: the router refused ${user}@${group}: ${error.message}`);
    client.close();
    await client.closed;
    return 1;
  }
  client.onError = (e) => console.error(`router error ${e.code}: ${e.message}`);
  console.log(`joined ${group} as ${user}; users: ${users.join(", ")}`);
  await client.send("/chat", { type: "s", value: `hello from ${user}` });
  // Each line typed goes to the group as /chat; the end of input (Ctrl-D) leaves.
  const typing = (async () => {
    let pending = "";
    for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) await client.send("/chat", { type: "s", value: line.trim() });
    }
  })();
  const ended = await Promise.race([typing.then(() => "typing"), client.closed.then(() => "closed")]);
  client.close();
  await client.closed;
  if (ended === "closed") {
    console.error("error: the router closed the connection");
    return 1;
  }
  console.log(`left ${group}`);
  return 0;
}

// Deno.exit, not exitCode: a read of the terminal may still be pending.
if (import.meta.main) Deno.exit(await script(Deno.args));
