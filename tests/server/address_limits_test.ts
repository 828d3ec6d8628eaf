/**
 * Per-address limits (issue 11): one address cannot take every slot, registered or not; a musician
 * from another address still joins at once, on the first try.
 */
import assert from "node:assert/strict";
import { OutgoingPacket } from "../../lib/framing/outgoing.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import type { Session } from "../../lib/router/session.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { eventually, withServer } from "./harness.ts";
import { s, TestClient } from "./test_client.ts";

/** Opens `count` connections from `address`; returns those the router kept and the refusals' codes. */
async function flood(port: number, address: string, count: number, register?: (i: number) => string) {
  // Without registering: all at once. Registering: one at a time, each registered before the next
  // is opened (more at once would meet the limit on unregistered connections first).
  const clients = register === undefined
    ? await Promise.all(Array.from({ length: count }, () => TestClient.connectFrom(port, address)))
    : [];
  const kept: TestClient[] = [];
  const refused: string[] = [];
  for (let i = 0; i < count; i++) {
    const client = clients[i] ?? await TestClient.connectFrom(port, address);
    if (register !== undefined) {
      await client.sendMsg("/oscrouter/register", s(register(i)), s("pw"), s(register(i)), s("gpw")).catch(() => {});
    }
    try {
      const m = await client.nextMessage(register === undefined ? 300 : 3000);
      if (m.address === "/oscrouter/error") {
        refused.push((m.args[0] as { value: string }).value);
        await client.expectClosed();
        await client.close();
        continue;
      }
    } catch {
      // no reply within the wait: an unregistered connection that was kept
    }
    kept.push(client);
  }
  return { kept, refused };
}

Deno.test("per address: unregistered connections from one address stop at 8; another address joins at once", async () => {
  await withServer({}, async ({ server, lp }) => {
    const { kept, refused } = await flood(lp, "127.0.0.2", 40);
    const musician = await TestClient.connectFrom(lp, "127.0.0.3");
    try {
      assert.equal(kept.length, 8);
      assert.equal(refused.length, 32);
      assert.ok(refused.every((code) => code === "too_many_connections"));
      assert.equal(server.connectionsFrom("127.0.0.2"), 8);
      assert.deepEqual(await musician.register("ana", "band"), ["ana"], "joined on the first try");
      assert.equal(server.router.counters.errors.too_many_connections, 32);
    } finally {
      await Promise.all([...kept, musician].map((c) => c.close()));
    }
  });
});

Deno.test("per address: registered connections from one address stop at 32 (each in its own group); another address joins at once", async () => {
  await withServer({}, async ({ server, lp, slip }) => {
    const { kept, refused } = await flood(lp, "127.0.0.4", 40, (i) => `squat${i}`);
    const musician = await TestClient.connectFrom(slip, "127.0.0.5", "slip");
    try {
      assert.equal(kept.length, 32);
      assert.deepEqual(refused, Array(8).fill("too_many_connections"));
      assert.equal(server.router.groupCount, 32);
      const [, message] = await (async () => {
        const late = await TestClient.connectFrom(lp, "127.0.0.4");
        try {
          return await late.nextError();
        } finally {
          await late.close();
        }
      })();
      assert.match(message, /--max-connections-per-address/, "the message says what to do");
      assert.deepEqual(await musician.register("bob", "band"), ["bob"], "joined on the first try");
    } finally {
      await Promise.all([...kept, musician].map((c) => c.close()));
    }
    await eventually(() => server.connectionCount === 0, "all closed");
    assert.equal(server.connectionsFrom("127.0.0.4"), 0, "nothing left counted for the address");
  });
});

Deno.test("per address: the limits are flags; a closed connection frees its slot", async () => {
  await withServer({ maxConnectionsPerAddress: 2, maxUnregisteredPerAddress: 2 }, async ({ server, lp }) => {
    const a = await TestClient.connectFrom(lp, "127.0.0.6");
    const b = await TestClient.connectFrom(lp, "127.0.0.6");
    const c = await TestClient.connectFrom(lp, "127.0.0.6");
    try {
      assert.equal((await c.nextError())[0], "too_many_connections");
      await a.close();
      await eventually(() => server.connectionsFrom("127.0.0.6") === 1, "a's slot is free");
      const d = await TestClient.connectFrom(lp, "127.0.0.6");
      try {
        assert.deepEqual(await d.register("dee"), ["dee"]);
      } finally {
        await d.close();
      }
    } finally {
      await Promise.all([a, b, c].map((x) => x.close()));
    }
  });
});

/** A fake session of another transport (WebSocket), as lib/http admits them. */
function fakeSession(address: string, peer: string): Session & { sent: OutgoingPacket[] } {
  const sent: OutgoingPacket[] = [];
  return { framing: "websocket", peer, address, sent, send: (p) => sent.push(p), close() {} };
}

Deno.test("per address: admit() applies the same limits to WebSocket sessions, and counts them with TCP", async () => {
  const server = Server.start({
    ...DEFAULT_SERVER_OPTIONS,
    hostname: "127.0.0.1",
    lengthPrefixPort: 0,
    slipPort: undefined,
    maxConnectionsPerAddress: 10,
    maxUnregisteredPerAddress: 3,
  });
  const lp = server.listening[0]!.port;
  try {
    const sessions = Array.from({ length: 3 }, (_, i) => fakeSession("10.0.0.1", `10.0.0.1:${i}`));
    for (const session of sessions) assert.equal(server.admit(session), undefined);
    const refused = server.admit(fakeSession("10.0.0.1", "10.0.0.1:9"));
    assert.equal(refused?.code, "too_many_connections");
    assert.match(refused!.message, /--max-unregistered-per-address/);
    assert.equal(server.admit(fakeSession("10.0.0.2", "10.0.0.2:1")), undefined, "another address is not affected");
    // Once registered, they no longer count as unregistered; the total still applies.
    const register = (user: string) =>
      encodeMessage({ address: "/oscrouter/register", args: [s(user), s("pw"), s("ws"), s("gpw")] });
    sessions.forEach((session, i) => server.router.receive(session, register(`w${i}`)));
    for (let i = 3; i < 10; i++) {
      const session = fakeSession("10.0.0.1", `10.0.0.1:${i}`);
      assert.equal(server.admit(session), undefined, `session ${i}`);
      server.router.receive(session, register(`w${i}`));
    }
    assert.equal(server.connectionsFrom("10.0.0.1"), 10);
    assert.equal(server.admit(fakeSession("10.0.0.1", "10.0.0.1:99"))?.code, "too_many_connections");
    server.release(sessions[0]!);
    server.router.leave(sessions[0]!);
    assert.equal(server.connectionsFrom("10.0.0.1"), 9);
    assert.equal(server.admit(fakeSession("10.0.0.1", "10.0.0.1:100")), undefined, "a released slot is free");
    // TCP connections from 127.0.0.1 are counted under their own address.
    const tcp = await TestClient.connect(lp);
    try {
      assert.deepEqual(await tcp.register("t", "tcp"), ["t"]);
      assert.equal(server.connectionsFrom("127.0.0.1"), 1);
    } finally {
      await tcp.close();
    }
  } finally {
    await server.close();
  }
});
