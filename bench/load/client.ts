/** A load-generating OSC client: sends numbered, timestamped 32-byte messages and checks what arrives. */
import { readPackets } from "../../lib/client/read_packets.ts";
import { registerMessage } from "../../lib/client/router_client.ts";
import { encodeFrame } from "../../lib/framing/by_framing.ts";
import type { Framing } from "../../lib/framing/detect.ts";
import { concatBytes } from "../../lib/framing/concat.ts";
import { encodeSlipFrame } from "../../lib/framing/slip.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import type { Tracker } from "./tracker.ts";

/** "/load\0\0\0" ",iid\0\0\0\0" sender seq timeUs: 32 bytes. */
const TEMPLATE = encodeMessage({
  address: "/load",
  args: [{ type: "i", value: 0 }, { type: "i", value: 0 }, { type: "d", value: 0 }],
});
const L = 0x6c; // 'l' of "/load"

/** Microseconds on a clock shared by every client of this process. */
export const nowUs = (): number => performance.now() * 1000;

const scratch = new Uint8Array(8);
const scratchFloat = new Float64Array(scratch.buffer);

function readFloat64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) scratch[7 - i] = bytes[at + i]!;
  return scratchFloat[0]!;
}
function readInt32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}

export class LoadClient {
  readonly conn: Deno.TcpConn;
  readonly framing: Framing;
  readonly index: number;
  seq = 0;
  /** Called after each chunk of received packets (senders wait on it for their window). */
  onProgress: (() => void) | undefined;
  #tracker: Tracker | undefined;
  #paused = false;
  #replied: (() => void) | undefined;
  #loop: Promise<void>;
  otherPackets = 0;
  /** User lists received (one per change of the group's membership). */
  userLists = 0;

  private constructor(conn: Deno.TcpConn, framing: Framing, index: number) {
    this.conn = conn;
    this.framing = framing;
    this.index = index;
    this.#loop = this.#readLoop();
  }

  /** Connects and registers; waits for the router's reply unless `bare` (the relay has none). */
  static async connect(
    port: number,
    framing: Framing,
    index: number,
    user: string,
    group: string,
    bare: boolean,
  ): Promise<LoadClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const client = new LoadClient(conn, framing, index);
    const replied = new Promise<void>((resolve) => client.#replied = resolve);
    await client.writeAll(
      client.frame(registerMessage({ user, password: "pw", group, groupPassword: "gpw", id: index })),
    );
    if (!bare) await replied;
    return client;
  }

  set tracker(tracker: Tracker) {
    this.#tracker = tracker;
  }

  frame(packet: Uint8Array): Uint8Array {
    return encodeFrame(this.framing, packet);
  }

  /** Stops reading (a slow consumer): the kernel buffers fill, then the router's queue. */
  pause(): void {
    this.#paused = true;
  }

  /** Builds `count` load messages from this sender as one buffer of frames. */
  batch(count: number): Uint8Array {
    if (this.framing === "length-prefix") {
      const buf = new Uint8Array(count * 36);
      const view = new DataView(buf.buffer);
      for (let i = 0; i < count; i++) {
        const at = i * 36;
        view.setInt32(at, 32);
        buf.set(TEMPLATE, at + 4);
        view.setInt32(at + 20, this.index);
        view.setInt32(at + 24, this.seq++);
        view.setFloat64(at + 28, nowUs());
      }
      return buf;
    }
    const frames: Uint8Array[] = [];
    let total = 0;
    const packet = TEMPLATE.slice();
    const view = new DataView(packet.buffer);
    for (let i = 0; i < count; i++) {
      view.setInt32(16, this.index);
      view.setInt32(20, this.seq++);
      view.setFloat64(24, nowUs());
      const f = encodeSlipFrame(packet);
      frames.push(f);
      total += f.length;
    }
    return concatBytes(frames, total);
  }

  async writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  async #readLoop(): Promise<void> {
    try {
      await readPackets(this.conn, this.framing, { maxPacketBytes: 1 << 20 }, (items) => {
        const now = nowUs();
        for (const item of items) {
          if (!(item instanceof Uint8Array)) throw item;
          if (item.length === 32 && item[1] === L) {
            this.#tracker?.record(this.index, readInt32(item, 16), readInt32(item, 20), now - readFloat64(item, 24));
          } else {
            this.otherPackets++;
            if (item[11] === 0x72 && item[12] === 0x65) this.#replied?.(); // "/oscrouter/re"gister/...
            if (item[11] === 0x75 && item[12] === 0x73) this.userLists++; // "/oscrouter/us"erlist
          }
        }
        this.onProgress?.();
        return !this.#paused;
      });
    } catch {
      // closed
    }
  }

  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
    if (!this.#paused) await this.#loop;
  }
}
