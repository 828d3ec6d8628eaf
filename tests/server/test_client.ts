/**
 * A real TCP OSC client for server tests, on the shared `RouterClient`: a receive queue with
 * timeouts, raw writes, and connections from other loopback source addresses.
 */
import net from "node:net";
import { registerMessage, RouterClient, type RouterConnection } from "../../lib/client/router_client.ts";
import type { Framing } from "../../lib/framing/detect.ts";
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscArg, OscMessage } from "../../lib/osc/types.ts";
import { registerReplyAddress } from "../../lib/protocol/replies.ts";

/**
 * A node:net socket as a `RouterConnection`: node:net can choose the source address (`localAddress`),
 * which `Deno.connect` cannot, so tests can connect from 127.0.0.2, 127.0.0.3, ...
 */
export class NetConn implements RouterConnection {
  #socket: net.Socket;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  /** Settles when the socket is fully closed (so no resource outlives the test). */
  readonly closed: Promise<void>;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0 && !this.#ended) await new Promise<void>((resolve) => this.#wake = resolve);
    this.#wake = undefined;
    const head = this.#chunks[0];
    if (head === undefined) return null;
    const n = Math.min(head.length, buffer.length);
    buffer.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed) return reject(new Error("socket closed"));
      this.#socket.write(bytes, (error) => error ? reject(error) : resolve(bytes.length));
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Connects to 127.0.0.1:`port` from the loopback source address `localAddress` (127.0.0.2, ...),
 * as another host would, with Nagle off.
 */
export function connectNet(port: number, localAddress: string): Promise<NetConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress }, () => {
      socket.off("error", reject);
      resolve(new NetConn(socket));
    });
    socket.setNoDelay(true);
    socket.once("error", reject);
  });
}

export class TestClient {
  readonly #client: RouterClient;
  readonly #netConn: NetConn | undefined;
  readonly framing: Framing;
  #packets: Uint8Array[] = [];
  #waiter: (() => void) | undefined;
  #closedByPeer = false;

  private constructor(conn: Deno.TcpConn | NetConn, framing: Framing) {
    this.framing = framing;
    this.#netConn = conn instanceof NetConn ? conn : undefined;
    const client = this.#client = new RouterClient(conn, { framing, maxPacketBytes: 1 << 24 });
    client.onPacket = (packet) => {
      this.#packets.push(packet.slice()); // a view of the read buffer: keep a copy
      this.#waiter?.();
    };
    client.onFramingError = (error) => {
      throw error; // the stream cannot be trusted after it: stop reading, as a closed connection
    };
    void client.closed.then(() => {
      this.#closedByPeer = true;
      this.#waiter?.();
    });
  }

  static async connect(port: number, framing: Framing = "length-prefix"): Promise<TestClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true); // as real OSC clients do; Nagle would add 40 ms to each round trip
    return new TestClient(conn, framing);
  }

  /**
   * Connects from a chosen loopback source address (127.0.0.2, ...), as another host would.
   *
   * @param port the router's port
   * @param localAddress the source address
   * @param framing the framing to speak
   */
  static async connectFrom(
    port: number,
    localAddress: string,
    framing: Framing = "length-prefix",
  ): Promise<TestClient> {
    return new TestClient(await connectNet(port, localAddress), framing);
  }

  /** Frames and sends one packet. */
  async send(packet: Uint8Array): Promise<void> {
    await this.#client.sendPacket(packet);
  }

  /** Sends a message built from an address and arguments. */
  async sendMsg(address: string, ...args: OscArg[]): Promise<void> {
    await this.send(encodeMessage({ address, args }));
  }

  /** Writes raw bytes. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.#client.sendRaw(bytes);
  }

  /** Registers and consumes the reply and the user list; returns the user list's names. */
  async register(user: string, group = "band", userPw = "upw", groupPw = "gpw", id = 7): Promise<string[]> {
    await this.send(registerMessage({ user, password: userPw, group, groupPassword: groupPw, id }));
    const reply = await this.nextMessage();
    if (reply.address !== registerReplyAddress(user, String(id))) {
      throw new Error(`register failed: ${reply.address} ${JSON.stringify(reply.args)}`);
    }
    return userNames(await this.nextMessage());
  }

  /** The next packet's bytes, or an error after `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.#packets.length === 0) {
      if (this.#closedByPeer) throw new Error("connection closed while waiting for a packet");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#waiter = undefined;
    }
    return this.#packets.shift()!;
  }

  /** The next packet, decoded as a message. */
  async nextMessage(timeoutMs = 3000): Promise<OscMessage> {
    return decodePacket(await this.next(timeoutMs)) as OscMessage;
  }

  /** The next packet must be an error; returns [code, message, context]. */
  async nextError(timeoutMs = 3000): Promise<[string, string, string]> {
    const m = await this.nextMessage(timeoutMs);
    if (m.address !== "/oscrouter/error") throw new Error(`expected an error, got ${m.address}`);
    return m.args.map((a) => (a as { value: string }).value) as [string, string, string];
  }

  /** Asserts nothing arrives within `ms`. */
  async expectSilence(ms = 150): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.#packets.length > 0) {
      throw new Error(`unexpected packet: ${JSON.stringify(decodePacket(this.#packets[0]!), bigints)}`);
    }
  }

  /** Resolves when the server has closed the connection (after what it sent was read). */
  async expectClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closedByPeer) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Packets received and not yet taken. */
  get queued(): number {
    return this.#packets.length;
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#closedByPeer;
  }

  async close(): Promise<void> {
    this.#client.close();
    await this.#client.closed;
    await this.#netConn?.closed;
  }
}

export const s = (value: string): OscArg => ({ type: "s", value });

export function userNames(m: OscMessage): string[] {
  if (m.address !== "/oscrouter/userlist") throw new Error(`expected a user list, got ${m.address}`);
  return m.args.map((a) => (a as { value: string }).value);
}

function bigints(_key: string, value: unknown) {
  return typeof value === "bigint" ? `${value}n` : value;
}
