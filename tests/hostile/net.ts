/** Sockets for the hostile suite: node:net, so each one can choose its loopback source address. */
import net from "node:net";
import { Buffer } from "node:buffer";
import { createDecoder, encodeFrame } from "../../lib/framing/by_framing.ts";
import type { Deframed } from "../../lib/framing/errors.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import type { OscArg } from "../../lib/osc/types.ts";

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Opens a TCP connection from `localAddress`; rejects on error or after `timeoutMs`. */
export function connectFrom(port: number, localAddress: string, timeoutMs = 5000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect from ${localAddress} timed out`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** Writes and resolves once the bytes are handed to the kernel (or the socket failed). */
export function writeAll(socket: net.Socket, bytes: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(false);
    socket.write(bytes, (error) => resolve(error == null));
  });
}

/** Destroys a socket and waits for its close (bounded), so no resource outlives a test. */
export function destroy(socket: net.Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.destroy();
  });
}

/** `s` argument. */
export function s(value: string): OscArg {
  return { type: "s", value };
}

/** The register message. */
export function registerPacket(user: string, group: string, userPw = "upw", groupPw = "gpw"): Uint8Array {
  return encodeMessage({
    address: "/oscrouter/register",
    args: [s(user), s(userPw), s(group), s(groupPw), { type: "i", value: 1 }],
  });
}

/** A length-prefixed frame. */
export function frame(packet: Uint8Array): Uint8Array {
  return encodeFrame("length-prefix", packet);
}

/**
 * An OSC 1.0 (length-prefix) client over node:net: a queue of packets received while it reads.
 * `pause()` stops reading, as a client that hangs does.
 */
export class OscSocket {
  readonly socket: net.Socket;
  #packets: Uint8Array[] = [];
  #waiters: (() => void)[] = [];
  #closed = false;
  /** Bytes received so far. */
  receivedBytes = 0;
  /** Keep the packets received (false: count and drop them). */
  keep = true;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const decoder = createDecoder("length-prefix", { maxPacketBytes: 1 << 26 });
    const out: Deframed[] = [];
    socket.on("data", (chunk: Buffer) => {
      this.receivedBytes += chunk.length;
      if (!this.keep) return;
      decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length), out);
      for (const item of out) if (item instanceof Uint8Array) this.#packets.push(item.slice());
      out.length = 0;
      this.#wake();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Connects from `localAddress`. */
  static async connect(port: number, localAddress: string): Promise<OscSocket> {
    return new OscSocket(await connectFrom(port, localAddress));
  }

  /** True once the peer closed or the socket failed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one packet, framed. */
  send(packet: Uint8Array): Promise<boolean> {
    return writeAll(this.socket, frame(packet));
  }

  /** The next packet, or undefined after `timeoutMs` or on close. */
  async next(timeoutMs = 5000): Promise<Uint8Array | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#packets.length === 0) {
      if (this.#closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#packets.shift();
  }

  /** Registers; resolves true when the reply is the register acknowledgement. */
  async register(user: string, group: string): Promise<boolean> {
    await this.send(registerPacket(user, group));
    for (;;) {
      const packet = await this.next();
      if (packet === undefined) return false;
      const text = new TextDecoder().decode(packet.subarray(0, 64));
      if (text.startsWith("/oscrouter/register/")) return true;
      if (text.startsWith("/oscrouter/error")) return false;
    }
  }

  /** Stops reading: the kernel buffers fill and the router must queue or cut. */
  pause(): void {
    this.keep = false;
    this.socket.pause();
  }

  /** Reads again, dropping what arrives. */
  drain(): void {
    this.keep = false;
    this.#packets = [];
    this.socket.resume();
  }

  /** Destroys the socket. */
  close(): Promise<void> {
    return destroy(this.socket);
  }
}
