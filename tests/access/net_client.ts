/** A register over node:net from a chosen loopback source address (Deno.connect cannot choose one). */
import { registerMessage, RouterClient } from "../../lib/client/router_client.ts";
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { UserListTimer } from "../../lib/access/user_list_timer.ts";
import { Router, type RouterOptions } from "../../lib/router/router.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { connectNet, type NetConn } from "../server/test_client.ts";

/** A length-prefix client from `localAddress`: collects decoded messages until closed. */
export class NetClient {
  readonly messages: OscMessage[] = [];
  closed = false;
  #conn: NetConn;
  #client: RouterClient;
  #wake: (() => void) | undefined;

  private constructor(conn: NetConn) {
    this.#conn = conn;
    this.#client = new RouterClient(conn, { maxPacketBytes: 1 << 24 });
    this.#client.onPacket = (packet) => {
      this.messages.push(decodePacket(packet.slice()) as OscMessage);
      this.#wake?.();
    };
    void this.#client.closed.then(() => {
      this.closed = true;
      this.#wake?.();
    });
  }

  static async connect(port: number, localAddress: string): Promise<NetClient> {
    return new NetClient(await connectNet(port, localAddress));
  }

  send(address: string, ...strings: string[]): void {
    this.#send(encodeMessage({ address, args: strings.map((value) => ({ type: "s" as const, value })) }));
  }

  /** Writes raw bytes (frames already encoded); resolves once handed to the kernel. */
  write(bytes: Uint8Array): Promise<void> {
    return this.#client.sendRaw(bytes);
  }

  register(user: string, group: string, userPw: string, groupPw: string): void {
    this.#send(registerMessage({ user, password: userPw, group, groupPassword: groupPw, id: "1" }));
  }

  /** Sends without waiting: a failed write shows as the connection closing. */
  #send(packet: Uint8Array): void {
    this.#client.sendPacket(packet).catch(() => {});
  }

  /** Waits for `count` messages (or the close); returns them. */
  async waitFor(count: number, timeoutMs = 5000): Promise<OscMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.messages.length} of ${count} messages within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.messages.slice(0, count);
  }

  /** The first reply: "joined", or the error code. */
  async outcome(): Promise<string> {
    const [first] = await this.waitFor(1);
    if (first === undefined) return "closed without a reply";
    if (first.address.startsWith("/oscrouter/register/")) return "joined";
    if (first.address === "/oscrouter/error") return (first.args[0] as { value: string }).value;
    return first.address;
  }

  async close(): Promise<void> {
    this.#client.close();
    await this.#client.closed;
    await this.#conn.closed;
  }
}

/** Registers once from `localAddress` and closes; returns "joined" or the error code. */
export async function registerOnce(
  port: number,
  localAddress: string,
  [user, group, userPw, groupPw]: [string, string, string, string],
): Promise<string> {
  const client = await NetClient.connect(port, localAddress);
  try {
    client.register(user, group, userPw, groupPw);
    return await client.outcome();
  } finally {
    await client.close();
  }
}

/** A live server on a free loopback port with a router wired as main.ts wires it (user-list timer). */
export async function withRouter(options: RouterOptions, body: (port: number, router: Router) => Promise<void>) {
  const timer = new UserListTimer(() => router.flushUserLists());
  const router = new Router({ onUserListsPending: (ms) => timer.schedule(ms), ...options });
  const server = Server.start(
    { ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1", lengthPrefixPort: 0, slipPort: undefined },
    router,
  );
  try {
    await body(server.listening[0]!.port, router);
  } finally {
    await server.close();
    timer.stop();
  }
}
