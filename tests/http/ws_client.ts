/** A WebSocket OSC client for tests: one binary message per packet, a receive queue with timeouts. */
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscArg, OscMessage } from "../../lib/osc/types.ts";

export class WsClient {
  #socket: WebSocket;
  #packets: Uint8Array[] = [];
  closed: Promise<CloseEvent>;
  closeCode: number | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => this.#packets.push(new Uint8Array(e.data as ArrayBuffer));
    this.closed = new Promise((resolve) =>
      socket.onclose = (e) => {
        this.closeCode = e.code;
        resolve(e);
      }
    );
  }

  static async connect(url: string): Promise<WsClient> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    return new WsClient(socket);
  }

  send(packet: Uint8Array | string): void {
    this.#socket.send(packet);
  }

  sendMsg(address: string, ...args: OscArg[]): void {
    this.send(encodeMessage({ address, args }));
  }

  async register(user: string, group = "band"): Promise<string[]> {
    const s = (value: string): OscArg => ({ type: "s", value });
    this.sendMsg("/oscrouter/register", s(user), s("pw"), s(group), s("gpw"), s("ws1"));
    const reply = await this.nextMessage();
    if (reply.address !== `/oscrouter/register/${user}/ws1`) {
      throw new Error(`register failed: ${JSON.stringify(reply)}`);
    }
    const list = await this.nextMessage();
    return list.args.map((a) => (a as { value: string }).value);
  }

  async next(timeoutMs = 3000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.#packets.length === 0) {
      if (Date.now() > deadline) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.#packets.shift()!;
  }

  async nextMessage(timeoutMs = 3000): Promise<OscMessage> {
    return decodePacket(await this.next(timeoutMs)) as OscMessage;
  }

  async nextError(timeoutMs = 3000): Promise<[string, string, string]> {
    const m = await this.nextMessage(timeoutMs);
    if (m.address !== "/oscrouter/error") throw new Error(`expected an error, got ${m.address}`);
    return m.args.map((a) => (a as { value: string }).value) as [string, string, string];
  }

  async close(): Promise<void> {
    if (this.#socket.readyState < WebSocket.CLOSING) this.#socket.close();
    await this.closed;
  }
}
