/**
 * The HTTP port tried as an attacker would, over real sockets: idle and half-sent requests,
 * more connections than the cap, oversized and malformed WebSocket messages, clients that never
 * read, and a client whose message makes the router throw.
 */
import assert from "node:assert/strict";
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { type HttpLimits, type HttpServer, startHttp } from "../../lib/http/http_server.ts";
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import type { Server, ServerOptions } from "../../lib/server/server.ts";
import { hex } from "../hex.ts";
import { eventually, withServer } from "../server/harness.ts";
import { TestClient } from "../server/test_client.ts";
import { clientFrame, closedWithin, get, RawWebSocket, readResponse } from "./raw.ts";
import { WsClient } from "./ws_client.ts";

interface Ctx {
  server: Server;
  http: HttpServer;
  port: number;
  lp: number;
}

async function withHttp(
  overrides: Partial<ServerOptions>,
  limits: Partial<HttpLimits>,
  body: (ctx: Ctx) => Promise<void>,
) {
  await withServer(overrides, async ({ server, lp }) => {
    const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "9.9.9", limits });
    try {
      await body({ server, http, port: http.port, lp });
    } finally {
      await server.close();
      await http.shutdown();
    }
  });
}

const s = (value: string) => ({ type: "s" as const, value });
const encoder = new TextEncoder();

/** Upgrades /osc by hand and registers `user` in band: a WebSocket client that then never reads. */
async function nonReadingWebSocket(port: number, user: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    `GET /osc HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  await conn.write(clientFrame(
    2,
    encodeMessage({ address: "/oscrouter/register", args: [s(user), s("pw"), s("band"), s("gpw"), s("ws1")] }),
  ));
  return conn;
}

/** `count` length-prefixed 8 KB /flood packets in one buffer. */
function floodBurst(count: number): Uint8Array {
  const packet = encodeLengthPrefixFrame(
    encodeMessage({ address: "/flood", args: [{ type: "b", value: new Uint8Array(8000) }] }),
  );
  const burst = new Uint8Array(packet.length * count);
  for (let i = 0; i < count; i++) burst.set(packet, i * packet.length);
  return burst;
}

function oscOf(payload: Uint8Array): OscMessage {
  return decodePacket(payload) as OscMessage;
}

Deno.test("hostile http: idle connections and half-sent heads are closed within their timeouts", async () => {
  // 32 connections from one address: its share is lifted (this test is about the timeouts).
  const limits = { headersTimeoutMs: 600, idleTimeoutMs: 300, maxConnectionsPerAddress: 64 };
  await withHttp({}, limits, async ({ http, port }) => {
    const idle = await Promise.all(Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port })));
    const half = await Promise.all(Array.from({ length: 10 }, () => Deno.connect({ hostname: "127.0.0.1", port })));
    for (const c of half) await c.write(encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
    // A slowloris: one byte every 200 ms never finishes its head; the 600 ms count from its first byte.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port });
    const drip = setInterval(() => slow.write(encoder.encode("a")).catch(() => {}), 200);
    // A keep-alive client that made one request, then says nothing.
    const kept = await Deno.connect({ hostname: "127.0.0.1", port });
    await kept.write(encoder.encode(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    try {
      await eventually(() => http.connectionCount === 32, "all 32 accepted");
      const times = await Promise.all([...idle, ...half, slow].map((c) => closedWithin(c, 3000)));
      for (const ms of times) assert.ok(ms < 2500, `closed after ${ms.toFixed(0)} ms`);
      const keptMs = await closedWithin(kept, 3000); // its response, then the idle timeout
      assert.ok(keptMs < 2000, `idle keep-alive closed after ${keptMs.toFixed(0)} ms`);
      await eventually(() => http.connectionCount === 0, "no HTTP connection left");
      assert.equal((await get(port, "/healthz")).body, "ok\n", "still serving");
    } finally {
      clearInterval(drip);
      for (const c of [...idle, ...half, slow, kept]) {
        try {
          c.close();
        } catch {
          // closed by the router
        }
      }
    }
  });
});

Deno.test("hostile http: connections over the cap get 503 and are closed; the port serves again once they go", async () => {
  await withHttp({}, { maxConnections: 10, headersTimeoutMs: 5000 }, async ({ http, port }) => {
    const held = await Promise.all(Array.from({ length: 10 }, () => Deno.connect({ hostname: "127.0.0.1", port })));
    try {
      await eventually(() => http.connectionCount === 10, "10 held");
      const over = await get(port, "/healthz");
      assert.equal(over.status, 503);
      assert.equal(over.headers.get("connection"), "close");
    } finally {
      for (const c of held) c.close();
    }
    await eventually(() => http.connectionCount === 0, "all gone");
    assert.equal((await get(port, "/healthz")).status, 200);
  });
});

Deno.test("hostile http: malformed heads, bodies, other methods and oversized heads are refused and closed", async () => {
  await withHttp({}, {}, async ({ port }) => {
    const cases: [string, number][] = [
      ["NOT HTTP\r\n\r\n", 400],
      [`POST /osc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello`, 405],
      [`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`, 400],
      [`GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400],
      [`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    ];
    for (const [request, status] of cases) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(encoder.encode(request)).catch(() => 0);
        assert.equal((await readResponse(conn)).status, status, JSON.stringify(request.slice(0, 40)));
        await closedWithin(conn, 2000);
      } finally {
        conn.close();
      }
    }
  });
});

Deno.test("hostile http: a WebSocket message over --max-packet-bytes is refused from its header, never buffered", async () => {
  await withHttp({ maxPacketBytes: 1024 }, {}, async ({ server, port }) => {
    const ws = await RawWebSocket.open(port);
    assert.ok(ws instanceof RawWebSocket);
    try {
      // Announce 63 MiB, then send 1 MiB of it: the router must not hold it.
      await ws.write(clientFrame(2, new Uint8Array(0), { announce: 63 * 1024 * 1024 }));
      await ws.write(new Uint8Array(1024 * 1024));
      const frames = await ws.untilEnd();
      assert.equal(frames.length, 2, "an error, then a close frame");
      const error = oscOf(frames[0]!.payload);
      assert.equal(error.address, "/oscrouter/error");
      assert.equal((error.args[0] as { value: string }).value, "packet_too_large");
      assert.match((error.args[1] as { value: string }).value, /66060288 bytes is larger than the limit of 1024/);
      assert.equal(frames[1]!.opcode, 8);
      assert.equal((frames[1]!.payload[0]! << 8) | frames[1]!.payload[1]!, 1009);
      // At most the read that carried the header (Deno reads up to 64 KiB), charged until the connection closes.
      assert.ok(server.budget.usedBytes < 2 * 64 * 1024, `budget holds ${server.budget.usedBytes} bytes`);
      // The same through fragments: 3 × 512 bytes pass 1024 at the third.
      const frag = await RawWebSocket.open(port);
      assert.ok(frag instanceof RawWebSocket);
      await frag.write(clientFrame(2, new Uint8Array(512), { fin: false }));
      await frag.write(clientFrame(0, new Uint8Array(512), { fin: false }));
      await frag.write(clientFrame(0, new Uint8Array(512)));
      const fragFrames = await frag.untilEnd();
      assert.equal((oscOf(fragFrames[0]!.payload).args[0] as { value: string }).value, "packet_too_large");
      await frag.close();
    } finally {
      await ws.close();
    }
    await eventually(() => server.connectionCount === 0, "both released");
  });
});

Deno.test("hostile http: WebSocket protocol errors and unmasked frames close that client only", async () => {
  await withHttp({}, {}, async ({ port, lp }) => {
    const other = await TestClient.connect(lp);
    try {
      await other.register("other");
      for (
        const bytes of [
          Uint8Array.of(0x82, 0x02, 1, 2), // not masked
          clientFrame(0, new Uint8Array(4)), // a continuation of nothing
          clientFrame(9, new Uint8Array(200)), // a ping over 125 bytes
          clientFrame(3, new Uint8Array(4)), // a reserved opcode
        ]
      ) {
        const ws = await RawWebSocket.open(port);
        assert.ok(ws instanceof RawWebSocket);
        await ws.write(bytes);
        const frames = await ws.untilEnd();
        const close = frames.at(-1)!;
        assert.equal(close.opcode, 8);
        assert.equal((close.payload[0]! << 8) | close.payload[1]!, 1002);
        await ws.close();
      }
      // A ping is answered with a pong carrying its payload.
      const ws = await RawWebSocket.open(port);
      assert.ok(ws instanceof RawWebSocket);
      await ws.write(clientFrame(9, Uint8Array.of(7, 8, 9)));
      await eventually(() => ws.frames().length === 1, "pong");
      assert.deepEqual(ws.frames()[0], { opcode: 10, payload: Uint8Array.of(7, 8, 9) });
      await ws.close();
      await other.sendMsg("/oscrouter/ping");
    } finally {
      await other.close();
    }
  });
});

Deno.test("hostile http: an exception while handling one client's message closes that client, not the router", async () => {
  await withHttp({}, {}, async ({ server, port, lp }) => {
    const bystander = await TestClient.connect(lp);
    const browser = await WsClient.connect(`ws://127.0.0.1:${port}/osc`);
    const victim = await WsClient.connect(`ws://127.0.0.1:${port}/osc`);
    const receive = server.router.receive.bind(server.router);
    try {
      await bystander.register("bystander");
      await browser.register("browser");
      await bystander.nextMessage();
      // A bug anywhere in the router, reached by one crafted packet.
      server.router.receive = (session, packet) => {
        if (packet.length === 16 && packet[0] === 0x2f && packet[1] === 0x62) {
          throw new RangeError("offset is out of bounds");
        }
        receive(session, packet);
      };
      victim.send(hex("2f 62 6f 6f 6d 00 00 00 2c 00 00 00 00 00 00 00"));
      assert.equal((await victim.closed).code, 1011);
      // The 16-byte packet (`/a ,b` with blob size 0x7ffffffd) must not end the router either.
      const attacker = await WsClient.connect(`ws://127.0.0.1:${port}/osc`);
      attacker.send(hex("2f 61 00 00 2c 62 00 00 7f ff ff fd 00 00 00 00"));
      await attacker.nextError().catch(() => undefined);
      await attacker.close();
      // Everyone else goes on.
      await bystander.send(encodeMessage({ address: "/still", args: [s("here")] }));
      assert.equal((await browser.nextMessage()).address, "/still");
    } finally {
      server.router.receive = receive;
      await browser.close();
      await bystander.close();
    }
  });
});

Deno.test("hostile http: a WebSocket client that never reads is cut off (queue bound), its bytes charged to the budget", async () => {
  await withHttp({ maxQueueBytes: 256 * 1024 }, { writeTimeoutMs: 60_000 }, async ({ server, port, lp }) => {
    const conn = await nonReadingWebSocket(port, "sleepy");
    const sender = await TestClient.connect(lp);
    try {
      await eventually(() => server.router.userCount === 1, "registered");
      await sender.register("sender");
      let peak = 0;
      const burst = floodBurst(5);
      const before = server.slowConsumers;
      for (let i = 0; i < 4000 && server.slowConsumers === before; i++) {
        await sender.sendRaw(burst); // 40 KB a time: kernel buffers fill, then the router's queue
        peak = Math.max(peak, server.budget.usedBytes);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(server.slowConsumers, before + 1, "cut off as a slow consumer");
      assert.ok(peak > 0, "its queued bytes were charged to the budget");
      await eventually(() => server.router.userCount === 1, "left the group");
      // What stays charged is the shared pool's free chunks (the budget counts them too), never
      // the cut client's queue.
      await eventually(() => server.budget.clientBytes() === 0, "its bytes given back");
    } finally {
      conn.close();
      await sender.close();
    }
  });
});

Deno.test("hostile http: a WebSocket client that takes nothing for the write timeout is cut off below the byte bound", async () => {
  await withHttp(
    { maxQueueBytes: 256 * 1024 * 1024, maxMemoryBytes: 512 * 1024 * 1024 },
    { writeTimeoutMs: 500 },
    async ({ server, port, lp }) => {
      const conn = await nonReadingWebSocket(port, "stalled");
      const sender = await TestClient.connect(lp);
      try {
        await eventually(() => server.router.userCount === 1, "registered");
        await sender.register("sender");
        const burst = floodBurst(100);
        const before = server.slowConsumers;
        // Fill the kernel's buffers (a few MB), then keep a little waiting: no byte is taken.
        for (let i = 0; i < 40 && server.slowConsumers === before; i++) await sender.sendRaw(burst);
        await eventually(() => server.slowConsumers === before + 1, "cut off by the write deadline", 5000);
        // Once the sender's last packets are through, only the shared pool's free chunks stay charged.
        await eventually(() => server.budget.clientBytes() === 0, "the cut client's bytes given back");
      } finally {
        conn.close();
        await sender.close();
      }
    },
  );
});

Deno.test("hostile http: WebSocket sessions and event streams outlive node:http's head, request, idle and socket timeouts", async () => {
  // node:http's request deadline is head + write timeout (800 ms here), its socket timeout the write timeout.
  await withHttp({}, { headersTimeoutMs: 300, idleTimeoutMs: 200, writeTimeoutMs: 500 }, async ({ port, lp }) => {
    const browser = await WsClient.connect(`ws://127.0.0.1:${port}/osc`);
    const sender = await TestClient.connect(lp);
    const events = await fetch(`http://127.0.0.1:${port}/events`);
    const reader = events.body!.getReader();
    try {
      await browser.register("browser");
      await sender.register("sender");
      await browser.nextMessage();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.equal(browser.closeCode, undefined, "still open");
      await sender.send(encodeMessage({ address: "/late", args: [s("still")] }));
      assert.equal((await browser.nextMessage()).address, "/late");
      let text = "";
      while (!text.includes("data: ")) text += new TextDecoder().decode((await reader.read()).value);
      assert.match(text, /data: \{"version":"9\.9\.9"/, "the stream still delivers");
    } finally {
      await reader.cancel();
      await browser.close();
      await sender.close();
    }
  });
});

Deno.test("hostile http: what ws holds of an unfinished WebSocket message is charged to the budget and given back", async () => {
  await withHttp({ maxPacketBytes: 1024 * 1024 }, {}, async ({ server, port }) => {
    const ws = await RawWebSocket.open(port);
    assert.ok(ws instanceof RawWebSocket);
    try {
      // 600 KiB announced, 300 KiB sent: under the limit, so ws keeps what arrived.
      const frame = clientFrame(2, new Uint8Array(300 * 1024), { announce: 600 * 1024 });
      await ws.write(frame.subarray(0, 14 + 300 * 1024));
      await eventually(() => server.budget.usedBytes >= 300 * 1024, "the partial message is charged");
    } finally {
      await ws.close();
    }
    await eventually(() => server.budget.usedBytes === 0, "given back when the client goes");
  });
});

Deno.test("hostile http: a WebSocket message trickled a byte per read is charged per read and refused past the read bound", async () => {
  // --max-packet-bytes 64 KiB: ws may keep 256 reads of an unfinished message.
  await withHttp({ maxPacketBytes: 64 * 1024 }, {}, async ({ server, port }) => {
    const ws = await RawWebSocket.open(port);
    assert.ok(ws instanceof RawWebSocket);
    try {
      ws.conn.setNoDelay(true);
      const frame = clientFrame(2, new Uint8Array(4000));
      await ws.write(frame.subarray(0, 8)); // the header: 4,000 bytes announced, under the limit
      let peak = 0;
      for (let i = 8; i < frame.length && !ws.ended; i++) {
        await ws.write(frame.subarray(i, i + 1));
        await new Promise((resolve) => setTimeout(resolve, 2));
        peak = Math.max(peak, server.budget.usedBytes);
      }
      assert.ok(ws.ended, "closed before the message was complete");
      assert.ok(peak > 100 * 640, `each read charged beside its byte (peak ${peak})`);
      const close = (await ws.untilEnd()).at(-1)!;
      assert.equal(close.opcode, 8);
      assert.equal((close.payload[0]! << 8) | close.payload[1]!, 1008);
    } finally {
      await ws.close();
    }
    await eventually(() => server.budget.usedBytes === 0, "given back");
  });
});
