/** Raw HTTP and WebSocket over TCP for attack tests: what a browser or an attacker can send. */
import { encodeMessage } from "../../lib/osc/codec.ts";
import type { OscArg } from "../../lib/osc/types.ts";

const encoder = new TextEncoder();

/** A response read from a raw connection. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Reads one response head (and its Content-Length body) from `conn`; leftover bytes are returned. */
export async function readResponse(conn: Deno.Conn, timeoutMs = 3000): Promise<RawResponse & { rest: Uint8Array }> {
  let bytes = new Uint8Array(0);
  const buffer = new Uint8Array(65536);
  const deadline = Date.now() + timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (;;) {
      const text = new TextDecoder("latin1").decode(bytes);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
        const headers = new Map(lines.map((l) => {
          const i = l.indexOf(":");
          return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
        }));
        const length = Number(headers.get("content-length") ?? 0);
        if (bytes.length >= end + 4 + length) {
          return {
            status: Number(statusLine!.split(" ")[1]),
            headers,
            body: new TextDecoder().decode(bytes.subarray(end + 4, end + 4 + length)),
            rest: bytes.slice(end + 4 + length),
          };
        }
      }
      const n = await Promise.race([
        conn.read(buffer),
        new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), deadline - Date.now())),
      ]);
      clearTimeout(timer);
      if (n === "timeout") throw new Error(`no complete response within ${timeoutMs} ms`);
      if (n === null) throw new Error(`connection closed after ${bytes.length} bytes`);
      const next = new Uint8Array(bytes.length + n);
      next.set(bytes);
      next.set(buffer.subarray(0, n), bytes.length);
      bytes = next;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Sends one GET request on a new connection and reads the response; the connection is closed. */
export async function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const all = { host: `127.0.0.1:${port}`, connection: "close", ...headers };
    const head = Object.entries(all).filter(([, v]) => v !== "").map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\n${head}\r\n`));
    const { status, headers: h, body } = await readResponse(conn);
    return { status, headers: h, body };
  } finally {
    conn.close();
  }
}

/** Waits until the peer closes `conn` (read returns null or fails); returns the ms it took, or throws after `timeoutMs`. */
export async function closedWithin(conn: Deno.Conn, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const buffer = new Uint8Array(65536);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), timeoutMs));
  try {
    for (;;) {
      const n = await Promise.race([conn.read(buffer).catch(() => null), timeout]);
      if (n === "timeout") throw new Error(`still open after ${timeoutMs} ms`);
      if (n === null) return performance.now() - started;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** A masked client frame (RFC 6455) with any header fields an attacker likes. */
export function clientFrame(opcode: number, payload: Uint8Array, options: { fin?: boolean; announce?: number } = {}) {
  const length = options.announce ?? payload.length;
  const head: number[] = [(options.fin === false ? 0 : 0x80) | opcode];
  if (length < 126) head.push(0x80 | length);
  else if (length < 0x10000) head.push(0x80 | 126, length >>> 8, length & 0xff);
  else {
    head.push(0x80 | 127);
    const hi = Math.floor(length / 2 ** 32);
    for (const v of [hi, length >>> 0]) head.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  const mask = [0x12, 0x34, 0x56, 0x78];
  const out = new Uint8Array(head.length + 4 + payload.length);
  out.set(head);
  out.set(mask, head.length);
  for (let i = 0; i < payload.length; i++) out[head.length + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/** Server frames parsed from bytes (unmasked, as the router sends them). */
export function serverFrames(bytes: Uint8Array): { opcode: number; payload: Uint8Array }[] {
  const frames: { opcode: number; payload: Uint8Array }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (length === 126) {
      length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
      head = 4;
    } else if (length === 127) {
      length = new DataView(bytes.buffer, bytes.byteOffset + at + 6, 4).getUint32(0);
      head = 10;
    }
    if (at + head + length > bytes.length) break;
    frames.push({ opcode: bytes[at]! & 0x0f, payload: bytes.slice(at + head, at + head + length) });
    at += head + length;
  }
  return frames;
}

/** A raw WebSocket: the upgrade done by hand, frames written and read as bytes. */
export class RawWebSocket {
  #received: Uint8Array = new Uint8Array(0);
  #reading: Promise<void>;
  ended = false;

  private constructor(readonly conn: Deno.TcpConn, initial: Uint8Array) {
    this.#received = initial;
    this.#reading = this.#read();
  }

  /**
   * Opens `/osc` with the given extra headers; resolves to the socket, or to the refusal.
   */
  static async open(port: number, headers: Record<string, string> = {}): Promise<RawWebSocket | RawResponse> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const all = {
      host: `127.0.0.1:${port}`,
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...headers,
    };
    const head = Object.entries(all).filter(([, v]) => v !== "").map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await conn.write(encoder.encode(`GET /osc HTTP/1.1\r\n${head}\r\n`));
    const response = await readResponse(conn);
    if (response.status !== 101) {
      conn.close();
      return response;
    }
    return new RawWebSocket(conn, response.rest);
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await this.conn.read(buffer);
        if (n === null) break;
        const next = new Uint8Array(this.#received.length + n);
        next.set(this.#received);
        next.set(buffer.subarray(0, n), this.#received.length);
        this.#received = next;
      }
    } catch {
      // reset
    }
    this.ended = true;
  }

  /** Sends an OSC message as one binary frame. */
  async sendMsg(address: string, ...args: OscArg[]): Promise<void> {
    await this.write(clientFrame(2, encodeMessage({ address, args })));
  }

  /** Writes bytes as they are; false when the router has closed the connection. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      let at = 0;
      while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
      return true;
    } catch {
      return false;
    }
  }

  /** Waits until the router ends the connection; returns the frames it sent. */
  async untilEnd(timeoutMs = 3000): Promise<{ opcode: number; payload: Uint8Array }[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return serverFrames(this.#received);
  }

  /** The bytes received so far, headers included. */
  received(): Uint8Array {
    return this.#received;
  }

  /** The frames received so far. */
  frames(): { opcode: number; payload: Uint8Array }[] {
    return serverFrames(this.#received);
  }

  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
    await this.#reading;
  }
}
