import assert from "node:assert/strict";
import { encodeBundle, encodeMessage } from "../../lib/osc/codec.ts";
import { type HttpServer, startHttp } from "../../lib/http/http_server.ts";
import type { Server, ServerOptions } from "../../lib/server/server.ts";
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { join } from "../framing/frames.ts";
import { hex, toHex } from "../hex.ts";
import { eventually, withServer } from "../server/harness.ts";
import { TestClient, userNames } from "../server/test_client.ts";
import { WsClient } from "./ws_client.ts";

interface Ctx {
  server: Server;
  http: HttpServer;
  base: string;
  ws: string;
  lp: number;
  slip: number;
}

async function withHttp(overrides: Partial<ServerOptions>, body: (ctx: Ctx) => Promise<void>) {
  await withServer(overrides, async ({ server, lp, slip }) => {
    const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "9.9.9" });
    try {
      const base = `http://127.0.0.1:${http.port}`;
      await body({ server, http, base, ws: `ws://127.0.0.1:${http.port}/osc`, lp, slip });
    } finally {
      await server.close(); // WebSocket sessions first: the HTTP server waits for its connections
      await http.shutdown();
    }
  });
}

Deno.test("http: /healthz, /status.json, /metrics, /, /client, /events and 404", async () => {
  await withHttp({}, async ({ base, lp }) => {
    const a = await TestClient.connect(lp);
    try {
      await a.register("ana", "band");
      assert.equal(await (await fetch(`${base}/healthz`)).text(), "ok\n");
      await new Promise((resolve) => setTimeout(resolve, 1100)); // one sampling interval
      const status = await (await fetch(`${base}/status.json`)).json();
      assert.equal(status.version, "9.9.9");
      assert.deepEqual(status.groups, [{ name: "band", users: ["ana"] }]);
      assert.equal(status.connections["length-prefix"], 1);
      assert.equal(status.totals.packetsIn, 1);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^# TYPE tcposcrouter_packets_received_total counter$/m);
      assert.match(metrics, /^tcposcrouter_packets_received_total 1$/m);
      assert.match(metrics, /^tcposcrouter_connections\{framing="length-prefix"\} 1$/m);
      assert.match(metrics, /^tcposcrouter_errors_total\{code="server_full"\} 0$/m);
      const page = await fetch(`${base}/`);
      assert.match(page.headers.get("content-type")!, /text\/html/);
      const html = await page.text();
      assert.match(html, /EventSource\("events"\)/);
      assert.ok(!/https?:\/\/(?!127)/.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, "")), "no external assets");
      assert.match(await (await fetch(`${base}/client`)).text(), /tcposcrouter web client/);
      const events = await fetch(`${base}/events`);
      assert.equal(events.headers.get("content-type"), "text/event-stream");
      const reader = events.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /^retry: 2000\ndata: \{"version":"9\.9\.9"/);
      await reader.cancel();
      const missing = await fetch(`${base}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const notWs = await fetch(`${base}/osc`);
      assert.equal(notWs.status, 426);
      await notWs.body?.cancel();
    } finally {
      await a.close();
    }
  });
});

Deno.test("http: a WebSocket client and TCP clients of both framings exchange byte-exact packets", async () => {
  await withHttp({}, async ({ ws, lp, slip, server }) => {
    const browser = await WsClient.connect(ws);
    const sc = await TestClient.connect(lp);
    const pd = await TestClient.connect(slip, "slip");
    try {
      assert.deepEqual(await browser.register("browser"), ["browser"]);
      await sc.register("sc");
      await pd.register("pd");
      assert.deepEqual(userNames(await browser.nextMessage()), ["browser", "sc"]);
      assert.deepEqual(userNames(await browser.nextMessage()), ["browser", "sc", "pd"]);
      assert.deepEqual(userNames(await sc.nextMessage()), ["browser", "sc", "pd"]);
      const packets = [
        encodeMessage({
          address: "/blob",
          args: [{ type: "b", value: hex("c0 db dc dd") }, { type: "d", value: 0.1 }],
        }),
        encodeBundle({ timetag: 5n, elements: [{ address: "/x", args: [{ type: "h", value: -1n }] }] }),
        hex("2f 6e 61 6e 00 00 00 00 2c 66 00 00 7f c0 00 01"), // a NaN with a payload
      ];
      for (const p of packets) {
        browser.send(p);
        assert.equal(toHex(await sc.next()), toHex(p));
        assert.equal(toHex(await pd.next()), toHex(p));
        await sc.send(p);
        assert.equal(toHex(await browser.next()), toHex(p));
        assert.equal(toHex(await pd.next()), toHex(p));
      }
      assert.equal(server.connectionsByFraming().websocket, 1);
    } finally {
      await browser.close();
      await sc.close();
      await pd.close();
    }
    await eventually(() => server.connectionCount === 0, "all gone");
  });
});

Deno.test("http: WebSocket errors and limits are the TCP ports' own", async () => {
  await withHttp({ maxPacketBytes: 1024, registerTimeoutMs: 300 }, async ({ ws, server }) => {
    const a = await WsClient.connect(ws);
    try {
      await a.register("a");
      a.send("/text/is/not/osc");
      assert.equal((await a.nextError())[0], "malformed_packet");
      a.send(new Uint8Array([1, 2, 3, 4]));
      assert.equal((await a.nextError())[0], "malformed_packet");
      a.sendMsg("/oscrouter/userlist");
      assert.equal((await a.nextError())[0], "reserved_address");
      assert.equal(a.closeCode, undefined, "still open");
      // The first packet must register; a silent client times out.
      const b = await WsClient.connect(ws);
      b.sendMsg("/hello");
      assert.equal((await b.nextError())[0], "not_registered");
      await b.closed;
      const idle = await WsClient.connect(ws);
      const [idleCode, idleMessage] = await idle.nextError(2000);
      assert.equal(idleCode, "not_registered");
      assert.match(idleMessage, /0\.3 s/);
      await idle.closed;
      assert.equal(server.router.userCount, 1);
      // A message over --max-packet-bytes: refused from its header, then the connection closes with 1009.
      const big = await WsClient.connect(ws);
      big.send(encodeMessage({ address: "/big", args: [{ type: "b", value: new Uint8Array(2000) }] }));
      const [code, message] = await big.nextError();
      assert.equal(code, "packet_too_large");
      assert.match(message, /limit of 1024 bytes/);
      assert.equal((await big.closed).code, 1009);
    } finally {
      await a.close();
    }
  });
});

Deno.test("http: WebSocket sessions count against --max-connections", async () => {
  await withHttp({ maxConnections: 1 }, async ({ ws, lp, server }) => {
    const tcp = await TestClient.connect(lp);
    try {
      await tcp.register("tcp");
      const over = await WsClient.connect(ws);
      const [code, message] = await over.nextError();
      assert.equal(code, "server_full");
      assert.match(message, /--max-connections/, "the same message as on the TCP ports");
      await over.closed;
      assert.equal(server.router.counters.errors.server_full, 1, "counted once");
      assert.equal(server.refusedConnections, 1);
    } finally {
      await tcp.close();
    }
  });
});

Deno.test("http: a TCP client after WebSocket sessions is refused once they fill --max-connections", async () => {
  await withHttp({ maxConnections: 2 }, async ({ ws, lp, slip, server }) => {
    const browsers = [await WsClient.connect(ws), await WsClient.connect(ws)];
    try {
      await browsers[0]!.register("web1");
      await browsers[1]!.register("web2");
      for (const [port, framing] of [[lp, "length-prefix"], [slip, "slip"]] as const) {
        const late = await TestClient.connect(port, framing);
        try {
          assert.equal((await late.nextError())[0], "server_full", `a ${framing} client over the two WebSockets`);
          await late.expectClosed();
        } finally {
          await late.close();
        }
      }
      assert.equal(server.refusedConnections, 2);
    } finally {
      for (const browser of browsers) await browser.close();
    }
  });
});

Deno.test("http: a burst from TCP reaches a WebSocket client intact (read buffers are reused under it)", async () => {
  await withHttp({}, async ({ ws, lp }) => {
    const browser = await WsClient.connect(ws);
    const sender = await TestClient.connect(lp);
    try {
      await browser.register("browser");
      await sender.register("sender");
      await browser.nextMessage();
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 3000; i++) {
        frames.push(encodeLengthPrefixFrame(encodeMessage({
          address: "/burst",
          args: [{ type: "i", value: i }, { type: "b", value: new Uint8Array(100).fill(i & 0xff) }],
        })));
      }
      await sender.sendRaw(join(frames)); // many packets per read: each read buffer is reused
      for (let i = 0; i < 3000; i++) {
        assert.equal(toHex(await browser.next()), toHex(frames[i]!.subarray(4)), `packet ${i}`);
      }
    } finally {
      await browser.close();
      await sender.close();
    }
  });
});
