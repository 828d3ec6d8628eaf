/** A register over node:net from a chosen loopback source address (Deno.connect cannot choose one). */
import net from "node:net";
import { createDecoder, encodeFrame } from "../../lib/framing/by_framing.ts";
import type { Deframed } from "../../lib/framing/errors.ts";
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { UserListTimer } from "../../lib/access/user_list_timer.ts";
import { Router, type RouterOptions } from "../../lib/router/router.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";

/** A length-prefix client from `localAddress`: collects decoded messages until closed. */
export class NetClient {
  readonly messages: OscMessage[] = [];
  closed = false;
  #socket: net.Socket;
  #wake: (() => void) | undefined;
  #done: Promise<void>;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    const decoder = createDecoder("length-prefix", { maxPacketBytes: 1 << 24 });
    socket.on("data", (chunk: Uint8Array) => {
      const out: Deframed[] = [];
      decoder.push(new Uint8Array(chunk), out);
      for (const item of out) if (item instanceof Uint8Array) this.messages.push(decodePacket(item) as OscMessage);
      this.#wake?.();
    });
    this.#done = new Promise((resolve) => {
      socket.on("close", () => {
        this.closed = true;
        this.#wake?.();
        resolve();
      });
    });
    socket.on("error", () => {});
  }

  static connect(port: number, localAddress: string): Promise<NetClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress });
      socket.setNoDelay(true);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new NetClient(socket));
      });
      socket.once("error", reject);
    });
  }

  send(address: string, ...strings: string[]): void {
    const packet = encodeMessage({ address, args: strings.map((value) => ({ type: "s" as const, value })) });
    this.#socket.write(encodeFrame("length-prefix", packet));
  }

  /** Writes raw bytes (frames already encoded); resolves once handed to the kernel. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.#socket.write(bytes, (e) => e ? reject(e) : resolve()));
  }

  register(user: string, group: string, userPw: string, groupPw: string): void {
    this.send("/oscrouter/register", user, userPw, group, groupPw, "1");
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
    this.#socket.destroy();
    await this.#done;
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
