/** Bridge mode with real UDP sockets and a live router on loopback. */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Bridge, type BridgeOptions, MAX_UDP_PAYLOAD_BYTES } from "../../lib/bridge/bridge.ts";
import { decodePacket, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { toHex } from "../hex.ts";
import { eventually } from "../server/harness.ts";
import { s, TestClient, userNames } from "../server/test_client.ts";

/** A UDP-only OSC app: receives on its own port, sends to the bridge. */
class UdpApp {
  readonly received: Uint8Array[] = [];
  private constructor(readonly socket: dgram.Socket) {
    socket.on("message", (msg: Uint8Array) => this.received.push(new Uint8Array(msg)));
  }
  static async open(): Promise<UdpApp> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    return new UdpApp(socket);
  }
  get port(): number {
    return this.socket.address().port;
  }
  send(packet: Uint8Array, port: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(packet, port, "127.0.0.1", (e) => e ? reject(e) : resolve())
    );
  }
  messages(): OscMessage[] {
    return this.received.map((p) => decodePacket(p) as OscMessage);
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function startServer(port = 0) {
  return Server.start({
    ...DEFAULT_SERVER_OPTIONS,
    hostname: "127.0.0.1",
    lengthPrefixPort: port,
    slipPort: undefined,
  });
}

function bridgeOptions(routerPort: number, appPort: number, framing: BridgeOptions["framing"] = "length-prefix") {
  return {
    server: { hostname: "127.0.0.1", port: routerPort },
    framing,
    user: "touchosc",
    userPassword: "tpw",
    group: "band",
    groupPassword: "gpw",
    listenUdp: { hostname: "127.0.0.1", port: 0 },
    sendUdp: { hostname: "127.0.0.1", port: appPort },
    maxQueueBytes: 64 * 1024,
    initialBackoffMs: 50,
    maxBackoffMs: 400,
  } satisfies BridgeOptions;
}

/** A live router, a UDP app, a bridge for it, and a TCP client, all closed afterwards. */
async function withBridge(
  framing: BridgeOptions["framing"],
  body: (ctx: { bridge: Bridge; app: UdpApp; sc: TestClient; lp: number }) => Promise<void>,
) {
  const server = startServer();
  const lp = server.listening[0]!.port;
  const app = await UdpApp.open();
  const bridge = await Bridge.start(bridgeOptions(lp, app.port, framing));
  const sc = await TestClient.connect(lp);
  try {
    await eventually(() => bridge.state === "joined", "the bridge joins");
    await body({ bridge, app, sc, lp });
  } finally {
    await sc.close();
    await bridge.stop();
    await app.close();
    await server.close();
  }
}

Deno.test("bridge: a UDP app and a TCP client exchange packets byte for byte, user lists and private messages", async () => {
  await withBridge("length-prefix", async ({ bridge, app, sc }) => {
    assert.deepEqual(await sc.register("sc", "band", "x", "gpw"), ["touchosc", "sc"]);
    await eventually(
      () => app.messages().some((m) => m.address === "/oscrouter/userlist" && m.args.length === 2),
      "list",
    );
    const fromApp = encodeMessage({
      address: "/fader/1",
      args: [{ type: "f", value: 0.75 }, { type: "d", value: 1e-9 }],
    });
    await app.send(fromApp, bridge.udpPort);
    assert.equal(toHex(await sc.next()), toHex(fromApp));
    const toApp = encodeMessage({
      address: "/led",
      args: [{ type: "i", value: 1 }, { type: "b", value: new Uint8Array([0xc0]) }],
    });
    await sc.send(toApp);
    await eventually(() => app.received.some((p) => toHex(p) === toHex(toApp)), "the app gets /led byte for byte");
    // Private messages both ways: the app speaks the protocol through the bridge.
    await sc.sendMsg("/oscrouter/private", s("touchosc"), s("whispa"), { type: "i", value: 5 });
    await eventually(() => app.messages().some((m) => m.address === "/oscrouter/private"), "private to the app");
    assert.deepEqual(app.messages().find((m) => m.address === "/oscrouter/private")!.args, [s("sc"), s("whispa"), {
      type: "i",
      value: 5,
    }]);
    await app.send(encodeMessage({ address: "/oscrouter/private", args: [s("sc"), s("k"), s("v")] }), bridge.udpPort);
    assert.deepEqual(await sc.nextMessage(), { address: "/oscrouter/private", args: [s("touchosc"), s("k"), s("v")] });
  });
});

Deno.test("bridge: bad UDP input gets an error reply and is never forwarded", async () => {
  await withBridge("slip", async ({ bridge, app, sc }) => {
    await sc.register("sc");
    await app.send(new Uint8Array([0x2f, 0x78, 0, 0, 0x2c, 0x69, 0, 0]), bridge.udpPort); // int missing
    await app.send(new TextEncoder().encode("hello"), bridge.udpPort);
    await eventually(() => app.messages().filter((m) => m.address === "/oscrouter/error").length === 2, "two errors");
    assert.ok(
      app.messages().filter((m) => m.address === "/oscrouter/error").every((m) =>
        m.args[0]!.type === "s" && m.args[0]!.value === "malformed_packet"
      ),
    );
    await app.send(
      encodeMessage({ address: "/oscrouter/register", args: [s("a"), s("b"), s("c"), s("d")] }),
      bridge.udpPort,
    );
    await eventually(
      () =>
        app.messages().some((m) =>
          m.address === "/oscrouter/error" && m.args[0]!.type === "s" && m.args[0]!.value === "already_registered"
        ),
      "the router's own answer",
    );
    await sc.expectSilence();
    assert.equal(bridge.counters.malformed, 2);
  });
});

Deno.test("bridge: the router restarts; the bridge reconnects, re-registers and delivers what it queued", async () => {
  let server = startServer();
  const lp = server.listening[0]!.port;
  const app = await UdpApp.open();
  const bridge = await Bridge.start(bridgeOptions(lp, app.port));
  const states: string[] = [];
  bridge.onState = (state) => states.push(state);
  let sc: TestClient | undefined;
  try {
    await eventually(() => bridge.state === "joined", "the bridge joins");
    await server.close();
    await eventually(() => bridge.state !== "joined", "the bridge notices");
    for (let i = 0; i < 3; i++) {
      await app.send(encodeMessage({ address: "/queued", args: [{ type: "i", value: i }] }), bridge.udpPort);
    }
    await new Promise((resolve) => setTimeout(resolve, 150)); // a failed attempt or two
    server = startServer(lp);
    sc = await TestClient.connect(lp);
    await sc.register("sc");
    await eventually(() => bridge.state === "joined", "the bridge is back", 5000);
    const got: number[] = [];
    while (got.length < 3) {
      const m = await sc.nextMessage();
      if (m.address === "/queued") got.push((m.args[0] as { value: number }).value);
    }
    assert.deepEqual(got, [0, 1, 2], "queued packets arrive in order after the reconnect");
    assert.equal(bridge.counters.registrations, 2);
    assert.ok(states.includes("waiting") && states.at(-1) === "joined", states.join(" "));
  } finally {
    await sc?.close();
    await bridge.stop();
    await app.close();
    await server.close();
  }
});

Deno.test("bridge: a group packet too large for a UDP datagram is dropped and counted", async () => {
  await withBridge("length-prefix", async ({ bridge, app, sc }) => {
    await sc.register("sc");
    await sc.sendMsg("/big", { type: "b", value: new Uint8Array(MAX_UDP_PAYLOAD_BYTES) });
    await sc.sendMsg("/small");
    await eventually(() => app.messages().some((m) => m.address === "/small"), "the next packet still arrives");
    assert.equal(bridge.counters.tooLargeForUdp, 1);
    assert.ok(!app.messages().some((m) => m.address === "/big"));
  });
});

/** The last user list the app got, or undefined. */
function lastUserList(app: UdpApp): string[] | undefined {
  const list = app.messages().filter((m) => m.address === "/oscrouter/userlist").at(-1);
  return list === undefined ? undefined : userNames(list);
}

Deno.test("bridge: a refused register (wrong password, taken name, bad name) stops it for good, no retry", async () => {
  const server = startServer();
  const lp = server.listening[0]!.port;
  const owner = await TestClient.connect(lp);
  await owner.register("touchosc", "band", "someone-else", "gpw");
  const cases: [Partial<BridgeOptions>, string][] = [
    [{}, "wrong_user_password"], // the name is taken in the group with another password
    [{ user: "other", groupPassword: "not-gpw" }, "wrong_group_password"],
    [{ user: "bad\nname" }, "invalid_name"],
  ];
  try {
    for (const [change, code] of cases) {
      const app = await UdpApp.open();
      // A short backoff: a retry, if there were one, would come within the wait below.
      const bridge = await Bridge.start({ ...bridgeOptions(lp, app.port), ...change });
      const states: string[] = [];
      bridge.onState = (state) => states.push(state);
      try {
        const refusal = await bridge.refused;
        assert.equal(refusal.code, code);
        assert.ok(refusal.message.length > 0);
        assert.equal(bridge.state, "refused");
        await eventually(() => app.messages().some((m) => m.address === "/oscrouter/error"), "the app hears it");
        await new Promise((resolve) => setTimeout(resolve, 400)); // 8 backoffs of 50 ms
        assert.ok(!states.includes("waiting") && states.at(-1) === "refused", `no retry after ${code}: ${states}`);
        assert.equal(app.messages().filter((m) => m.address === "/oscrouter/error").length, 1);
        assert.equal(bridge.counters.registrations, 0);
      } finally {
        await bridge.stop();
        await app.close();
      }
    }
  } finally {
    await owner.close();
    await server.close();
  }
});

Deno.test("bridge: after a router restart, a squatter's group password is retried, not fatal: the bridge rejoins when it leaves", async () => {
  let server = startServer();
  const lp = server.listening[0]!.port;
  const app = await UdpApp.open();
  const bridge = await Bridge.start({ ...bridgeOptions(lp, app.port), initialBackoffMs: 300, maxBackoffMs: 600 });
  const states: string[] = [];
  bridge.onState = (state) => states.push(state);
  let squatter: TestClient | undefined;
  try {
    await eventually(() => bridge.state === "joined", "the bridge joins");
    await server.close();
    await eventually(() => bridge.state === "waiting", "the bridge waits to reconnect");
    server = startServer(lp);
    // During the bridge's retry wait, someone registers its group with another password.
    squatter = await TestClient.connect(lp);
    await squatter.register("eve", "band", "x", "attacker-pw");
    const errors = () =>
      app.messages().filter((m) =>
        m.address === "/oscrouter/error" && (m.args[0] as { value: string }).value === "wrong_group_password"
      ).length;
    await eventually(() => errors() >= 1, "the bridge is refused with wrong_group_password", 5000);
    const refusedAt = states.length;
    await eventually(() => states.slice(refusedAt).includes("waiting"), "it waits to retry", 5000);
    assert.notEqual(bridge.state, "refused");
    await squatter.close(); // the group is free again
    squatter = undefined;
    await eventually(() => bridge.state === "joined", "the bridge rejoins once the squatter left", 10_000);
    assert.equal(bridge.counters.registrations, 2);
    assert.ok(!states.includes("refused"), states.join(" "));
  } finally {
    await squatter?.close();
    await bridge.stop();
    await app.close();
    await server.close();
  }
});

Deno.test("bridge: a transient refusal (server_full) is retried with backoff until it joins", async () => {
  const server = Server.start({
    ...DEFAULT_SERVER_OPTIONS,
    hostname: "127.0.0.1",
    lengthPrefixPort: 0,
    slipPort: undefined,
    maxConnections: 1,
  });
  const lp = server.listening[0]!.port;
  const owner = await TestClient.connect(lp);
  await owner.register("owner");
  const app = await UdpApp.open();
  const bridge = await Bridge.start(bridgeOptions(lp, app.port));
  try {
    await eventually(() => app.messages().some((m) => m.address === "/oscrouter/error"), "the refusal reaches the app");
    assert.equal(
      (app.messages().find((m) => m.address === "/oscrouter/error")!.args[0] as { value: string }).value,
      "server_full",
    );
    await eventually(() => bridge.state === "waiting", "it waits before retrying");
    await owner.close(); // a place is free: the next attempt succeeds
    await eventually(() => bridge.state === "joined", "joined once there is room", 5000);
    // The user list is a datagram of its own, sent after the register reply: wait for it.
    await eventually(() => lastUserList(app)?.join() === "touchosc", "the app gets the user list");
  } finally {
    await bridge.stop();
    await app.close();
    await owner.close();
    await server.close();
  }
});

Deno.test("bridge: the reconnect delay doubles on each failure, up to maxBackoffMs", async () => {
  // A "router" that accepts each connection and closes it at once: every attempt fails.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const acceptedAtMs: number[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      acceptedAtMs.push(performance.now());
      conn.close();
    }
  })();
  const app = await UdpApp.open();
  const bridge = await Bridge.start({
    ...bridgeOptions(listener.addr.port, app.port),
    initialBackoffMs: 100,
    maxBackoffMs: 800,
  });
  try {
    // Delays 100, 200, 400, 800, 800 ms, each times a jitter of 0.75 to 1.
    await eventually(() => acceptedAtMs.length >= 6, "six attempts", 10_000);
    const gaps = acceptedAtMs.slice(1).map((at, i) => at - acceptedAtMs[i]!);
    const text = gaps.map((g) => g.toFixed(0)).join(", ");
    assert.ok(gaps[1]! >= 0.75 * 200 && gaps[2]! >= 0.75 * 400 && gaps[3]! >= 0.75 * 800, `gaps grow: ${text} ms`);
    assert.ok(gaps[3]! > 3 * gaps[0]!, `the fourth delay is about eight times the first: ${text} ms`);
    assert.ok(gaps[4]! >= 0.75 * 800 && gaps[4]! < 800 + 1500, `capped at maxBackoffMs: ${text} ms`);
  } finally {
    await bridge.stop();
    await app.close();
    listener.close();
    await accepting.catch(() => {});
  }
});

Deno.test("bridge: while disconnected it keeps maxQueueBytes of the app's packets, drops and counts the rest", async () => {
  let server = startServer();
  const lp = server.listening[0]!.port;
  const app = await UdpApp.open();
  const packet = (i: number) =>
    encodeMessage({ address: "/q", args: [{ type: "i", value: i }, { type: "b", value: new Uint8Array(184) }] });
  assert.equal(packet(0).length, 200);
  const bridge = await Bridge.start({ ...bridgeOptions(lp, app.port), maxQueueBytes: 1000 });
  let sc: TestClient | undefined;
  try {
    await eventually(() => bridge.state === "joined", "the bridge joins");
    await server.close();
    await eventually(() => bridge.state !== "joined", "the bridge notices");
    for (let i = 0; i < 8; i++) await app.send(packet(i), bridge.udpPort);
    await eventually(() => bridge.counters.udpIn >= 8, "the app's packets reach the bridge");
    assert.equal(bridge.counters.droppedWhileDisconnected, 3, "five packets of 200 bytes fill 1000 bytes");
    server = startServer(lp);
    sc = await TestClient.connect(lp);
    await sc.register("sc");
    await eventually(() => bridge.state === "joined", "the bridge is back", 5000);
    const got: number[] = [];
    while (got.length < 5) {
      const m = await sc.nextMessage();
      if (m.address === "/q") got.push((m.args[0] as { value: number }).value);
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4], "the first five, in order");
    await new Promise((resolve) => setTimeout(resolve, 200));
    while (sc.queued > 0) assert.notEqual((await sc.nextMessage()).address, "/q", "nothing of the dropped three");
  } finally {
    await sc?.close();
    await bridge.stop();
    await app.close();
    await server.close();
  }
});
