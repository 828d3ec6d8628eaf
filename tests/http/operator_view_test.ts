/**
 * The operator's view over real sockets: /status.json lists each connection (who, address, the
 * client's own framing, connected since, last packet, packets/s, queued bytes) and the recent
 * events (joins, leaves, refusals with user@group and the reason, slow consumers).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { startHttp } from "../../lib/http/http_server.ts";
import type { ConnectionStatus, EventStatus, Status } from "../../lib/http/status.ts";
import { encodeFrame } from "../../lib/framing/by_framing.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { s, TestClient } from "../server/test_client.ts";
import { get } from "./raw.ts";

const SAMPLE_MS = 300;

async function status(port: number): Promise<Status> {
  const response = await get(port, "/status.json");
  assert.equal(response.status, 200);
  return JSON.parse(response.body) as Status;
}

/** Polls /status.json until `check` returns a value (the figures are sampled every SAMPLE_MS). */
async function until<T>(port: number, check: (s: Status) => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = check(await status(port));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function start(options: Partial<typeof DEFAULT_SERVER_OPTIONS> = {}) {
  const server = Server.start({
    ...DEFAULT_SERVER_OPTIONS,
    hostname: "127.0.0.1",
    lengthPrefixPort: 0,
    slipPort: 0,
    ...options,
  });
  const http = await startHttp(server, {
    hostname: "127.0.0.1",
    port: 0,
    version: "9.9.9",
    limits: { sampleIntervalMs: SAMPLE_MS },
  });
  const port = (framing: "length-prefix" | "slip") => server.listening.find((l) => l.framing === framing)!.port;
  return { server, http, lp: port("length-prefix"), slip: port("slip") };
}

Deno.test("operator view: each connection with who, address, its own framing, times, rate and queue", async () => {
  const { server, http, lp, slip } = await start();
  // A length-prefix client on the SLIP port counts as OSC 1.0: the framing is the client's.
  const ana = await TestClient.connect(slip, "length-prefix");
  const bob = await TestClient.connect(lp, "length-prefix");
  const carla = await TestClient.connect(slip, "slip");
  const before = Date.now();
  try {
    await ana.register("ana", "band");
    await bob.register("bob", "band");
    await carla.register("carla", "choir");
    for (let i = 0; i < 20; i++) await ana.sendMsg("/note", { type: "i", value: 60 + i });
    const list = await until(
      http.port,
      (st) => (st.connectionList.find((c) => c.who === "ana@band")?.packetsIn === 21 ? st.connectionList : undefined),
      "ana's 21 packets",
    );
    assert.equal(list.length, 3);
    const byWho = new Map(list.map((c) => [c.who, c]));
    const a = byWho.get("ana@band")!;
    assert.equal(a.framing, "length-prefix", "detected, not the SLIP port's");
    assert.equal(byWho.get("bob@band")!.framing, "length-prefix");
    assert.equal(byWho.get("carla@choir")!.framing, "slip");
    assert.match(a.address, /^127\.0\.0\.1:\d+$/);
    const connectedAt = Date.parse(a.connectedAt!);
    assert.ok(connectedAt >= before - 1000 && connectedAt <= Date.now(), a.connectedAt!);
    const last = Date.parse(a.lastPacketAt!);
    assert.ok(last >= connectedAt && last <= Date.now(), a.lastPacketAt!);
    assert.ok(a.bytesIn > 20 * 12);
    assert.equal(a.queuedBytes, 0);
    // bob sent only his register; his last packet is older than ana's.
    assert.equal(byWho.get("bob@band")!.packetsIn, 1);
    assert.ok(Date.parse(byWho.get("bob@band")!.lastPacketAt!) <= last);
    // The totals by framing agree with the list.
    const st = await status(http.port);
    assert.deepEqual(st.connections, { "length-prefix": 2, slip: 1, websocket: 0 });
    assert.equal(st.connectionTotal, 3);

    // packets/s: 40 packets over about a second, sampled while they flow.
    const sending = (async () => {
      for (let i = 0; i < 40; i++) {
        await bob.sendMsg("/beat", { type: "i", value: i });
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    const rate = await until(http.port, (st) => {
      const r = st.connectionList.find((c) => c.who === "bob@band")?.packetsPerSecond ?? 0;
      return r > 5 ? r : undefined;
    }, "bob's rate");
    await sending;
    assert.ok(rate > 5 && rate < 200, String(rate));

    // A registered but unread connection before it sent anything: "not registered", no packet yet.
    const silent = await TestClient.connect(lp);
    await until(http.port, (st) => st.connectionList.find((c) => c.who === null && c.lastPacketAt === null), "silent");
    await silent.close();
  } finally {
    await ana.close();
    await bob.close();
    await carla.close();
    await server.close();
    await http.shutdown();
  }
});

Deno.test("operator view: a client that does not read shows its queued bytes", async () => {
  const { server, http, lp } = await start({ maxQueueBytes: 64 * 1024 * 1024 });
  const sender = await TestClient.connect(lp);
  // A raw client that registers and then never reads.
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: lp });
  try {
    await sender.register("ana", "band");
    const register = encodeMessage({ address: "/oscrouter/register", args: [s("slow"), s("p"), s("band"), s("gpw")] });
    await idle.write(encodeFrame("length-prefix", register));
    await until(http.port, (st) => st.groups.find((g) => g.users.includes("slow")), "slow to join");
    const big = encodeMessage({ address: "/blob", args: [{ type: "b", value: new Uint8Array(60_000) }] });
    const queued = await (async () => {
      for (let i = 0; i < 2000; i++) {
        await sender.send(big);
        if (i % 20 === 19) {
          const st = await status(http.port);
          const q = st.connectionList.find((c) => c.who === "slow@band")?.queuedBytes ?? 0;
          if (q > 0) return { q, st };
        }
      }
      throw new Error("nothing was ever queued");
    })();
    const slow = queued.st.connectionList.find((c) => c.who === "slow@band")!;
    assert.match(slow.address, /^127\.0\.0\.1:\d+$/);
    assert.ok(queued.q > 0);
    assert.ok(queued.st.queuedBytes >= queued.q, "the total includes it");
  } finally {
    idle.close();
    await sender.close();
    await server.close();
    await http.shutdown();
  }
});

Deno.test("operator view: the events name who joined, left and was refused, and why; slow consumers too", async () => {
  const { server, http, lp, slip } = await start({ maxQueueBytes: 256 * 1024 });
  const ana = await TestClient.connect(lp);
  const bob = await TestClient.connect(slip, "slip");
  const intruder = await TestClient.connect(lp);
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: lp });
  try {
    await ana.register("ana", "band");
    await bob.register("bob", "band");
    await bob.close();
    await intruder.sendMsg("/oscrouter/register", s("mallory"), s("x"), s("band"), s("not-the-password"));
    const [code] = await intruder.nextError();
    assert.equal(code, "wrong_group_password");
    await intruder.expectClosed();

    const register = encodeMessage({ address: "/oscrouter/register", args: [s("slow"), s("p"), s("band"), s("gpw")] });
    await idle.write(encodeFrame("length-prefix", register));
    await until(http.port, (st) => st.groups.find((g) => g.users.includes("slow")), "slow to join");
    const big = encodeMessage({ address: "/blob", args: [{ type: "b", value: new Uint8Array(60_000) }] });
    const events = await (async () => {
      for (let i = 0; i < 4000; i++) {
        await ana.send(big);
        if (i % 20 === 19) {
          const st = await status(http.port);
          if (st.events.some((e) => e.kind === "slow_consumer")) return st.events;
        }
      }
      throw new Error("the slow consumer was never cut off");
    })();
    const find = (kind: EventStatus["kind"], who: string) => events.find((e) => e.kind === kind && e.who === who);
    assert.ok(find("join", "ana@band"));
    assert.ok(find("join", "bob@band"));
    assert.ok(find("leave", "bob@band"));
    const refused = find("refused", "mallory@band");
    assert.equal(refused?.reason, "wrong_group_password");
    assert.match(refused.address, /^127\.0\.0\.1:\d+$/);
    const cut = find("slow_consumer", "slow@band");
    assert.ok(cut, JSON.stringify(events));
    assert.match(cut.address, /^127\.0\.0\.1:\d+$/);
    assert.match(cut.reason ?? "", /262144 bytes/);
    assert.ok(find("leave", "slow@band"), "its leave follows");
    // Newest first, with times.
    const times = events.map((e) => Date.parse(e.at));
    assert.deepEqual(times, [...times].sort((x, y) => y - x));
    assert.ok(events.indexOf(find("leave", "bob@band")!) < events.indexOf(find("join", "bob@band")!));
  } finally {
    try {
      idle.close();
    } catch {
      // closed by the router
    }
    await ana.close();
    await intruder.close();
    await server.close();
    await http.shutdown();
  }
});

Deno.test("operator view: the connection list is cut at 500 with the total, and shows the status page's address", async () => {
  const { server, http, lp } = await start({
    maxConnections: 600,
    maxConnectionsPerAddress: 600,
    maxUnregisteredPerAddress: 600,
  });
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 520; i++) {
      const socket = net.connect({ host: "127.0.0.1", port: lp });
      socket.on("error", () => {});
      sockets.push(socket);
    }
    const st = await until(http.port, (st) => (st.connectionTotal === 520 ? st : undefined), "520 connections");
    assert.equal(st.connectionList.length, 500);
    assert.ok(st.connectionList.every((c: ConnectionStatus) => c.who === null));
    // Listening on one address: that address only, with both ports and the status page.
    assert.deepEqual(st.connect.addresses, ["127.0.0.1"]);
    assert.equal(st.connect.lengthPrefixPort, lp);
    assert.deepEqual(st.connect.statusUrls, [`http://127.0.0.1:${http.port}/`]);
    assert.match(st.connect.lines[0]!, new RegExp(`^Musicians connect to 127\\.0\\.0\\.1 port ${lp} \\(SuperCollider`));
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.close();
    await http.shutdown();
  }
});
