/**
 * One address at its share of the HTTP port cannot keep another address's WebSocket upgrade or
 * live status page out (connections from 127.0.0.2, 127.0.0.3, ... through node:net).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { type HttpLimits, type HttpServer, startHttp } from "../../lib/http/http_server.ts";
import { eventually, withServer } from "../server/harness.ts";

/** A raw HTTP connection from a chosen source address. */
class Peer {
  #text = "";
  #wake: (() => void) | undefined;
  #ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.#text += chunk;
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on("close", end);
    socket.on("error", end);
  }

  static open(port: number, localAddress: string): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress }, () => {
        socket.off("error", reject);
        resolve(new Peer(socket));
      });
      socket.once("error", reject);
    });
  }

  /** Sends a GET (an upgrade to WebSocket for `/osc`) and resolves to the response's status. */
  async get(path: string, timeoutMs = 3000): Promise<number> {
    const port = this.socket.remotePort;
    const upgrade = path === "/osc"
      ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n"
      : "";
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${upgrade}\r\n`);
    const deadline = Date.now() + timeoutMs;
    while (!this.#text.includes("\r\n\r\n")) {
      if (this.#ended) throw new Error(`closed before a response to ${path}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response to ${path} within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    const status = Number(this.#text.slice(9, 12));
    this.#text = "";
    return status;
  }

  async close(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }
}

async function withHttp(limits: Partial<HttpLimits>, body: (http: HttpServer) => Promise<void>) {
  await withServer({}, async ({ server }) => {
    const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "9.9.9", limits });
    try {
      await body(http);
    } finally {
      await server.close();
      await http.shutdown();
    }
  });
}

Deno.test("http share: one address filling the port keeps no one else's WebSocket out; upgrades leave the count", async () => {
  // The port's cap is 12 plain connections, 4 per address. On main (no share), 12 keep-alive
  // connections from one address made every other address's upgrade a 503.
  const limits = { maxConnections: 12, maxConnectionsPerAddress: 4, idleTimeoutMs: 30_000 };
  await withHttp(limits, async (http) => {
    const peers: Peer[] = [];
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const peer = await Peer.open(http.port, "127.0.0.2");
        peers.push(peer);
        statuses.push(await peer.get("/healthz").catch(() => 0));
      }
      const first = await Peer.open(http.port, "127.0.0.3");
      peers.push(first);
      assert.equal(await first.get("/osc"), 101, "another address's WebSocket gets in");
      assert.equal(statuses.filter((s) => s === 200).length, 4, `statuses ${statuses}`);
      assert.equal(statuses.filter((s) => s === 503).length, 8, `statuses ${statuses}`);
      await eventually(() => http.connectionCount === 4, "only the share of 127.0.0.2 is held");
      // Another address upgrades more WebSockets than its plain share: each leaves the plain count.
      for (let i = 0; i < 5; i++) {
        const ws = await Peer.open(http.port, "127.0.0.3");
        peers.push(ws);
        assert.equal(await ws.get("/osc"), 101);
      }
      assert.equal(http.connectionCount, 4, "upgraded connections are not plain ones");
      const page = await Peer.open(http.port, "127.0.0.3");
      peers.push(page);
      assert.equal(await page.get("/healthz"), 200);
      // The address at its share still gets 503 on a new connection.
      const more = await Peer.open(http.port, "127.0.0.2");
      peers.push(more);
      assert.equal(await more.get("/healthz").catch(() => 0), 503);
    } finally {
      await Promise.all(peers.map((p) => p.close()));
    }
  });
});

Deno.test("http share: one address holding event streams keeps no one else's status page out", async () => {
  // On main, 64 unread /events streams from one address gave the operator's page 503 every time.
  const limits = { maxEventStreams: 6, maxEventStreamsPerAddress: 3 };
  await withHttp(limits, async (http) => {
    const peers: Peer[] = [];
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const peer = await Peer.open(http.port, "127.0.0.2");
        peers.push(peer);
        statuses.push(await peer.get("/events"));
      }
      assert.deepEqual(statuses, [200, 200, 200, 503, 503, 503]);
      const operator = await Peer.open(http.port, "127.0.0.3");
      peers.push(operator);
      assert.equal(await operator.get("/events"), 200);
      // A stream that goes gives its address its place back (once the server has seen it close).
      await peers[0]!.close();
      let status = 0;
      for (const deadline = Date.now() + 3000; status !== 200 && Date.now() < deadline;) {
        const again = await Peer.open(http.port, "127.0.0.2");
        peers.push(again);
        status = await again.get("/events");
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(status, 200);
    } finally {
      await Promise.all(peers.map((p) => p.close()));
    }
  });
});
