/**
 * Browsers on the venue network (issue 11.5): `/osc` only from allowed origins, only the router's
 * own host names (against DNS rebinding), and an optional token on the status page and metrics.
 * Also the event stream's caps.
 */
import assert from "node:assert/strict";
import { type HttpLimits, type HttpServer, startHttp } from "../../lib/http/http_server.ts";
import { Access, type AccessOptions, DEFAULT_ACCESS_OPTIONS } from "../../lib/http/access.ts";
import type { Server } from "../../lib/server/server.ts";
import { eventually, withServer } from "../server/harness.ts";
import { get, RawWebSocket } from "./raw.ts";

async function withHttp(
  access: Partial<AccessOptions>,
  limits: Partial<HttpLimits>,
  body: (ctx: { server: Server; http: HttpServer; port: number }) => Promise<void>,
) {
  await withServer({}, async ({ server }) => {
    const http = await startHttp(server, {
      hostname: "127.0.0.1",
      port: 0,
      version: "9.9.9",
      access: { allowHosts: [], allowOrigins: [], token: undefined, ...access },
      limits,
    });
    try {
      await body({ server, http, port: http.port });
    } finally {
      await server.close();
      await http.shutdown();
    }
  });
}

/** Opens /osc with `headers`; returns 101 or the refusal's status. */
async function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  const ws = await RawWebSocket.open(port, headers);
  if (ws instanceof RawWebSocket) {
    await ws.close();
    return 101;
  }
  return ws.status;
}

Deno.test("access: /osc refuses other origins with 403; no Origin, the router's own pages and allowed ones get in", async () => {
  await withHttp({}, {}, async ({ port }) => {
    assert.equal(await upgradeStatus(port, { origin: "http://evil.example" }), 403);
    assert.equal(await upgradeStatus(port, { origin: "null" }), 403);
    assert.equal(
      await upgradeStatus(port, { origin: `http://127.0.0.1:${port + 1}` }),
      403,
      "another port is another origin",
    );
    assert.equal(await upgradeStatus(port, {}), 101, "no Origin: not a browser (SuperCollider, scripts)");
    assert.equal(await upgradeStatus(port, { origin: `http://127.0.0.1:${port}` }), 101, "/client on this router");
    assert.equal(
      await upgradeStatus(port, { host: `localhost:${port}`, origin: `http://localhost:${port}` }),
      101,
    );
  });
  await withHttp({ allowOrigins: ["https://stage.example:8443", "http://tablet.local"] }, {}, async ({ port }) => {
    assert.equal(await upgradeStatus(port, { origin: "https://stage.example:8443" }), 101);
    assert.equal(await upgradeStatus(port, { origin: "http://tablet.local" }), 101);
    assert.equal(await upgradeStatus(port, { origin: "http://evil.example" }), 403);
  });
  await withHttp({ allowOrigins: ["*"] }, {}, async ({ port }) => {
    assert.equal(await upgradeStatus(port, { origin: "http://anything.example" }), 101);
  });
});

Deno.test("access: a Host that is not one of the router's names gets 421 (DNS rebinding cannot read /status.json)", async () => {
  await withHttp({ allowHosts: ["router.venue.example"] }, {}, async ({ port }) => {
    for (const path of ["/status.json", "/", "/metrics", "/events", "/osc", "/healthz"]) {
      const r = await get(port, path, { host: `rebind.attacker.example:${port}` });
      assert.equal(r.status, 421, path);
      assert.match(r.body, /--http-allow-host/);
    }
    for (
      const host of [
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        "[::1]",
        "192.0.2.7",
        "router.venue.example",
        "ROUTER.venue.example.",
      ]
    ) {
      assert.equal((await get(port, "/status.json", { host })).status, 200, host);
    }
    assert.equal(
      (await get(port, "/status.json", { host: "" })).status,
      200,
      "HTTP/1.1 without Host: an address was typed",
    );
    const machine = Deno.readTextFileSync("/etc/hostname").trim().toLowerCase();
    for (const host of [`${machine}:${port}`, `${machine.split(".")[0]}.local:${port}`]) {
      assert.equal((await get(port, "/status.json", { host })).status, 200, `the machine's own name ${host}`);
    }
  });
});

Deno.test("access: the token protects /, /status.json, /events and /metrics, as Basic or Bearer; /healthz, /client, /osc stay open", async () => {
  await withHttp({ token: "venue-token" }, {}, async ({ port }) => {
    for (const path of ["/", "/status.json", "/events", "/metrics"]) {
      const r = await get(port, path);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get("www-authenticate")!, /^Basic realm="tcposcrouter status"/);
      assert.equal((await get(port, path, { authorization: "Bearer wrong" })).status, 401);
      assert.equal((await get(port, path, { authorization: `Basic ${btoa("admin:wrong")}` })).status, 401);
      assert.equal((await get(port, path, { authorization: `Basic ${btoa("venue-token")}` })).status, 401, "no colon");
    }
    assert.equal(
      (await get(port, "/status.json", { authorization: `Basic ${btoa("anyone:venue-token")}` })).status,
      200,
    );
    assert.equal((await get(port, "/metrics", { authorization: "Bearer venue-token" })).status, 200);
    assert.equal((await get(port, "/healthz")).status, 200);
    assert.equal((await get(port, "/client")).status, 200);
    assert.equal(await upgradeStatus(port, {}), 101);
  });
});

/** Clients that ask for /events and never read, with small receive buffers (python: Deno cannot set SO_RCVBUF). */
function nonReaders(port: number, count: number): Deno.ChildProcess {
  const script = `
import socket, sys, time
socks = []
for i in range(${count}):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", ${port}))
    s.sendall(b"GET /events HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\n\\r\\n")
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
`;
  return new Deno.Command("python3", { args: ["-c", script], stdin: "piped", stdout: "null", stderr: "inherit" })
    .spawn();
}

Deno.test("events: more streams than the cap get 503; a stream that takes nothing is dropped and gives its bytes back", async () => {
  const limits = { maxEventStreams: 3, maxEventStreamBytes: 16 * 1024, sampleIntervalMs: 1, writeTimeoutMs: 60_000 };
  await withHttp({}, limits, async ({ server, http, port }) => {
    const child = nonReaders(port, 3);
    try {
      await eventually(() => http.eventStreamCount === 3, "3 streams", 5000);
      const over = await get(port, "/events");
      assert.equal(over.status, 503);
      assert.equal(over.headers.get("retry-after"), "10");
      // Events every millisecond: the buffers fill, then each stream's 16 KiB bound is passed.
      let peak = 0;
      const deadline = Date.now() + 20_000;
      while (http.eventStreamCount > 0 && Date.now() < deadline) {
        peak = Math.max(peak, server.budget.usedBytes);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      assert.equal(http.eventStreamCount, 0, "all three dropped");
      assert.ok(peak > 0 && peak <= 3 * 16 * 1024, `held at most 3 × 16 KiB (peak ${peak})`);
      assert.equal(server.budget.usedBytes, 0, "given back");
      assert.equal((await get(port, "/events", { connection: "close" })).status, 200, "room again");
    } finally {
      child.stdin.close();
      await child.status;
    }
  });
});

Deno.test("access: Host names under .localhost pass; names that merely end in 'localhost' do not", () => {
  const access = new Access(DEFAULT_ACCESS_OPTIONS);
  assert.ok(access.hostAllowed("localhost:8080"));
  assert.ok(access.hostAllowed("app.localhost:8080"));
  for (const host of ["evillocalhost:8080", "attacker-localhost", "localhost.attacker.example"]) {
    assert.ok(!access.hostAllowed(host), host);
  }
});
