/** The bridge relays datagrams only from the app's address unless --allow-udp-from widens it. */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Bridge, type BridgeOptions } from "../../lib/bridge/bridge.ts";
import { sourceFilter } from "../../lib/bridge/source_filter.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { eventually } from "../server/harness.ts";
import { TestClient } from "../server/test_client.ts";

/** A UDP socket bound to a chosen loopback source address. */
async function udpFrom(address: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
  return socket;
}
const send = (socket: dgram.Socket, packet: Uint8Array, port: number) =>
  new Promise<void>((resolve, reject) => socket.send(packet, port, "127.0.0.1", (e) => e ? reject(e) : resolve()));
const close = (socket: dgram.Socket) => new Promise<void>((resolve) => socket.close(() => resolve()));

async function withBridge(
  sendHost: string,
  allowUdpFrom: string[] | undefined,
  body: (bridge: Bridge, sc: TestClient) => Promise<void>,
) {
  const server = Server.start({
    ...DEFAULT_SERVER_OPTIONS,
    hostname: "127.0.0.1",
    lengthPrefixPort: 0,
    slipPort: undefined,
  });
  const lp = server.listening[0]!.port;
  const options: BridgeOptions = {
    server: { hostname: "127.0.0.1", port: lp },
    framing: "length-prefix",
    user: "touchosc",
    userPassword: "tpw",
    group: "band",
    groupPassword: "gpw",
    listenUdp: { hostname: "0.0.0.0", port: 0 },
    sendUdp: { hostname: sendHost, port: 9 },
    ...(allowUdpFrom ? { allowUdpFrom } : {}),
    maxQueueBytes: 64 * 1024,
    initialBackoffMs: 50,
    maxBackoffMs: 400,
  };
  const bridge = await Bridge.start(options);
  const sc = await TestClient.connect(lp);
  try {
    await eventually(() => bridge.state === "joined", "the bridge joins");
    await sc.register("sc");
    await body(bridge, sc);
  } finally {
    await sc.close();
    await bridge.stop();
    await server.close();
  }
}

const note = (i: number) => encodeMessage({ address: "/note", args: [{ type: "i", value: i }] });

Deno.test("bridge sources: the app on loopback (the default 127.0.0.1): loopback sources are relayed", async () => {
  await withBridge("127.0.0.1", undefined, async (bridge, sc) => {
    const app = await udpFrom("127.0.0.2");
    try {
      await send(app, note(1), bridge.udpPort);
      assert.deepEqual((await sc.nextMessage()).args, [{ type: "i", value: 1 }]);
    } finally {
      await close(app);
    }
  });
});

Deno.test("bridge sources: --allow-udp-from 127.0.0.3: another source address is dropped and counted", async () => {
  await withBridge("127.0.0.3", ["127.0.0.3"], async (bridge, sc) => {
    const app = await udpFrom("127.0.0.3");
    const intruder = await udpFrom("127.0.0.4");
    try {
      await send(intruder, note(666), bridge.udpPort);
      await send(app, note(2), bridge.udpPort);
      const got = await sc.nextMessage();
      assert.deepEqual(got.args, [{ type: "i", value: 2 }], `only the allowed source: ${JSON.stringify(got)}`);
      await sc.expectSilence();
      assert.equal(bridge.counters.droppedFromOtherSources, 1);
      assert.equal(bridge.counters.udpIn, 1, "the dropped datagram was never read as OSC");
    } finally {
      await close(app);
      await close(intruder);
    }
  });
  await withBridge("127.0.0.3", ["any"], async (bridge, sc) => {
    const other = await udpFrom("127.0.0.5");
    try {
      await send(other, note(4), bridge.udpPort);
      assert.deepEqual((await sc.nextMessage()).args, [{ type: "i", value: 4 }], "'any' relays everyone");
    } finally {
      await close(other);
    }
  });
});

Deno.test("bridge sources: the filter's rules", async () => {
  const loop = await sourceFilter(undefined, "localhost");
  assert.ok(loop.allows("127.9.9.9") && loop.allows("::1") && !loop.allows("10.0.0.1"));
  const remote = await sourceFilter(undefined, "192.0.2.44");
  assert.ok(remote.allows("192.0.2.44") && !remote.allows("127.0.0.1") && !remote.allows("192.0.2.45"));
  const listed = await sourceFilter(["10.0.0.7", " 2001:DB8::1 "], "127.0.0.1");
  assert.ok(listed.allows("10.0.0.7") && listed.allows("::ffff:10.0.0.7") && listed.allows("2001:db8::1"));
  assert.ok(!listed.allows("127.0.0.1"), "an explicit list replaces the default");
  assert.equal(listed.description, "10.0.0.7, 2001:db8::1");
});
