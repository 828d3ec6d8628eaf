/** A WebSocket receiver for the load benchmark: one binary message per packet, checked by the tracker. */
import { encodeMessage } from "../../lib/osc/codec.ts";
import { nowUs } from "./client.ts";
import type { Tracker } from "./tracker.ts";

const scratch = new Uint8Array(8);
const scratchFloat = new Float64Array(scratch.buffer);

export class WsLoadClient {
  onProgress: (() => void) | undefined;
  /** The router closed this client (cut off as a slow consumer). */
  closedByServer = false;
  #closing = false;
  #socket: WebSocket;
  #tracker: Tracker | undefined;

  private constructor(socket: WebSocket, readonly index: number) {
    this.#socket = socket;
  }

  static async connect(port: number, index: number, user: string, group: string): Promise<WsLoadClient> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/osc`);
    socket.binaryType = "arraybuffer";
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    const client = new WsLoadClient(socket, index);
    socket.addEventListener("close", () => client.closedByServer = !client.#closing);
    const registered = new Promise<void>((resolve) => {
      socket.onmessage = (e) => {
        const p = new Uint8Array(e.data as ArrayBuffer);
        if (p.length === 32 && p[1] === 0x6c) {
          const v = new DataView(p.buffer);
          for (let i = 0; i < 8; i++) scratch[7 - i] = p[24 + i]!;
          client.#tracker?.record(index, v.getInt32(16), v.getInt32(20), nowUs() - scratchFloat[0]!);
          client.onProgress?.();
        } else if (p[11] === 0x72) resolve(); // "/oscrouter/r"egister/...
      };
    });
    const s = (value: string) => ({ type: "s" as const, value });
    socket.send(encodeMessage({ address: "/oscrouter/register", args: [s(user), s("pw"), s(group), s("gpw")] }));
    await registered;
    return client;
  }

  set tracker(tracker: Tracker) {
    this.#tracker = tracker;
  }

  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return;
    this.#closing = true;
    const closed = new Promise((resolve) => this.#socket.addEventListener("close", resolve));
    this.#socket.close();
    await closed;
  }
}
