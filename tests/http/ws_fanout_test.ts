/**
 * The WebSocket fan-out path (frames built into a per-session chunk, one socket write per turn),
 * over real sockets: every packet of a burst reaches WebSocket receivers byte-exact and in order
 * beside TCP receivers, and each frame has the header RFC 6455 prescribes for its length.
 */
import assert from "node:assert/strict";
// @ts-types="npm:@types/ws@^8.18.1"
import * as wsModule from "ws";
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { type HttpServer, startHttp } from "../../lib/http/http_server.ts";
import { webSocketHeaderBytes, writeWebSocketHeader } from "../../lib/http/websocket_frame.ts";
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import type { ServerOptions } from "../../lib/server/server.ts";
import { withServer } from "../server/harness.ts";
import { TestClient } from "../server/test_client.ts";
import { clientFrame, RawWebSocket } from "./raw.ts";
import { WsClient } from "./ws_client.ts";

const s = (value: string) => ({ type: "s" as const, value });

/** ws's frame parser (exported by ws 8, not declared by @types/ws): an independent reader of our frames. */
interface WsReceiver {
  on(event: "message", listener: (data: Uint8Array, binary: boolean) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  write(bytes: Uint8Array): boolean;
  destroy(): void;
}
const { Receiver } = wsModule as unknown as {
  Receiver: new (options: { isServer: boolean; binaryType: string }) => WsReceiver;
};

async function withHttp(overrides: Partial<ServerOptions>, body: (http: HttpServer, lp: number) => Promise<void>) {
  await withServer(overrides, async ({ server, lp }) => {
    const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "9.9.9", limits: {} });
    try {
      await body(http, lp);
    } finally {
      await server.close();
      await http.shutdown();
    }
  });
}

/** A raw WebSocket registered in band as `user`; its register reply and user list are among its frames. */
async function rawMember(port: number, user: string): Promise<RawWebSocket> {
  const raw = await RawWebSocket.open(port);
  assert.ok(raw instanceof RawWebSocket, "the upgrade is accepted");
  await raw.write(clientFrame(
    2,
    encodeMessage({ address: "/oscrouter/register", args: [s(user), s("pw"), s("band"), s("gpw"), s("ws1")] }),
  ));
  return raw;
}

/** A packet of exactly `bytes` bytes (a multiple of 4, at least 20): /sized with an int and a blob. */
function sizedPacket(bytes: number, seq: number): Uint8Array {
  // "/sized\0\0" (8) ",ib\0" (4) int (4) blob size (4) blob, padded to 4.
  const blob = new Uint8Array(bytes - 20).map((_, i) => (i * 31 + seq) & 0xff);
  const packet = encodeMessage({ address: "/sized", args: [{ type: "i", value: seq }, { type: "b", value: blob }] });
  assert.equal(packet.length, bytes);
  return packet;
}

/** Waits until `count` packets with an address starting with `prefix` are in `frames()`. */
async function framesOf(raw: RawWebSocket, prefix: string, count: number, timeoutMs = 10_000): Promise<Uint8Array[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const payloads = raw.frames().filter((f) => f.opcode === 2).map((f) => f.payload)
      .filter((p) => new TextDecoder().decode(p.subarray(0, prefix.length)) === prefix);
    if (payloads.length >= count) return payloads;
    if (Date.now() > deadline) {
      throw new Error(`${payloads.length} of ${count} ${prefix} packets within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("ws fan-out: WebSocket receivers get every packet of a burst byte-exact and in order, beside TCP receivers", async () => {
  await withHttp({}, async (http, lp) => {
    const sender = await TestClient.connect(lp);
    await sender.register("sender");
    const tcp = [await TestClient.connect(lp), await TestClient.connect(lp)];
    for (const [i, c] of tcp.entries()) await c.register(`tcp${i}`);
    const browser = await WsClient.connect(`ws://127.0.0.1:${http.port}/osc`);
    await browser.register("browser");
    const raw = await rawMember(http.port, "raw");
    await framesOf(raw, "/oscrouter/userlist", 1); // registered
    // Packets of 20 to 620 bytes (headers of 2 and 4 bytes), sent as a few large writes: the router
    // routes many per read, so that many frames are queued in one turn.
    const count = 1500;
    const packets = Array.from({ length: count }, (_, i) => sizedPacket(20 + 4 * ((i * 37) % 151), i));
    for (let i = 0; i < count; i += 300) {
      const frames = packets.slice(i, i + 300).map(encodeLengthPrefixFrame);
      const burst = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
      let at = 0;
      for (const f of frames) burst.set(f, (at += f.length) - f.length);
      await sender.sendRaw(burst);
    }
    const isSized = (p: Uint8Array) => (decodePacket(p) as OscMessage).address === "/sized";
    for (const c of tcp) {
      for (let i = 0; i < count; i++) {
        let p = await c.next(10_000);
        while (!isSized(p)) p = await c.next(10_000);
        assert.deepEqual(p, packets[i], `TCP packet ${i}`);
      }
    }
    for (let i = 0; i < count; i++) {
      let p = await browser.next(10_000);
      while (!isSized(p)) p = await browser.next(10_000);
      assert.deepEqual(p, packets[i], `WebSocket packet ${i}`);
    }
    const rawPackets = await framesOf(raw, "/sized", count);
    assert.equal(rawPackets.length, count, "no packet twice");
    for (let i = 0; i < count; i++) assert.deepEqual(rawPackets[i], packets[i], `raw WebSocket packet ${i}`);
    for (const c of tcp) await c.close();
    await sender.close();
    await raw.close();
    await browser.close();
  });
});

Deno.test("ws fan-out: frames of 124, 128, 65532, 65536 and 65540-byte packets carry 2-, 4- and 10-byte headers", async () => {
  await withHttp({ maxPacketBytes: 128 * 1024 }, async (http, lp) => {
    const sender = await TestClient.connect(lp);
    await sender.register("sender");
    const raw = await rawMember(http.port, "raw");
    await framesOf(raw, "/oscrouter/userlist", 1);
    const sizes = [124, 128, 65532, 65536, 65540];
    const packets = sizes.map((n, i) => sizedPacket(n, i));
    for (const p of packets) await sender.send(p);
    await framesOf(raw, "/sized", sizes.length);
    // Walk the raw bytes: each header is the shortest form for its length, FIN set, binary, unmasked.
    const bytes = raw.received();
    const seen: Uint8Array[] = [];
    let at = 0;
    while (at < bytes.length) {
      const second = bytes[at + 1]!;
      assert.equal(second & 0x80, 0, "server frames are unmasked");
      let size = second;
      let header = 2;
      if (second === 126) [size, header] = [(bytes[at + 2]! << 8) | bytes[at + 3]!, 4];
      else if (second === 127) {
        [size, header] = [Number(new DataView(bytes.buffer, bytes.byteOffset + at + 2, 8).getBigUint64(0)), 10];
      }
      assert.equal(header, webSocketHeaderBytes(size), `the shortest header for ${size} bytes`);
      const payload = bytes.subarray(at + header, at + header + size);
      if ((decodePacket(payload) as OscMessage).address === "/sized") {
        assert.equal(bytes[at], 0x82, "FIN and binary");
        seen.push(payload);
      }
      at += header + size;
    }
    assert.equal(at, bytes.length, "the bytes end with a whole frame");
    assert.deepEqual(seen, packets);
    await raw.close();
    await sender.close();
  });
});

Deno.test("ws fan-out: headers at payload lengths 0, 125, 126, 65535, 65536 and 70000 are what ws's own receiver reads", async () => {
  const lengths = [0, 125, 126, 65535, 65536, 70_000];
  const frames = lengths.map((n) => {
    const frame = new Uint8Array(webSocketHeaderBytes(n) + n);
    const header = writeWebSocketHeader(frame, 0, n);
    assert.equal(header, n <= 125 ? 2 : n <= 65535 ? 4 : 10, `header bytes for ${n}`);
    for (let i = 0; i < n; i++) frame[header + i] = (i * 7 + n) & 0xff;
    return frame;
  });
  assert.deepEqual([...frames[1]!.subarray(0, 2)], [0x82, 125]);
  assert.deepEqual([...frames[2]!.subarray(0, 4)], [0x82, 126, 0, 126]);
  assert.deepEqual([...frames[3]!.subarray(0, 4)], [0x82, 126, 0xff, 0xff]);
  assert.deepEqual([...frames[4]!.subarray(0, 10)], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
  const receiver = new Receiver({ isServer: false, binaryType: "nodebuffer" });
  const got: { data: Uint8Array; binary: boolean }[] = [];
  const errors: Error[] = [];
  receiver.on("message", (data: Uint8Array, binary: boolean) => got.push({ data, binary }));
  receiver.on("error", (error: Error) => errors.push(error));
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) all.set(f, (at += f.length) - f.length);
  // In pieces, as a socket would deliver them (a header may be split across reads).
  for (let i = 0; i < all.length; i += 997) receiver.write(all.subarray(i, i + 997));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(errors, []);
  assert.deepEqual(got.map((m) => m.data.length), lengths);
  for (const [i, m] of got.entries()) {
    assert.ok(m.binary);
    assert.deepEqual(new Uint8Array(m.data), frames[i]!.subarray(webSocketHeaderBytes(lengths[i]!)));
  }
  receiver.destroy();
});
