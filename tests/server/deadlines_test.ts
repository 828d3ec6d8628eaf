/**
 * Deadlines: the write deadline cuts a client whose queue makes no progress even below the byte
 * bound; the ping timeout closes a client that pinged and then went silent without closing.
 */
import assert from "node:assert/strict";
import { eventually, withServer, withSlowReceiver } from "./harness.ts";
import { TestClient, userNames } from "./test_client.ts";

Deno.test("write deadline: a client that never reads is cut off below its byte bound; the others go on", async () => {
  const maxQueueBytes = 64 << 20; // far above what is sent: only the deadline can cut
  const writeTimeoutMs = 500;
  await withServer({ maxQueueBytes, writeTimeoutMs }, async ({ server, lp }) => {
    const { sender, fast, close } = await withSlowReceiver(server, lp);
    try {
      const blob = { type: "b" as const, value: new Uint8Array(4096) };
      let sent = 0;
      // 4 KB messages until the slow client is cut: the kernel's buffers fill, then its queue stops moving.
      const started = performance.now();
      let userList: string[] | undefined;
      while (userList === undefined && performance.now() - started < 20_000) {
        await sender.sendMsg("/chunk", { type: "i", value: sent++ }, blob);
        const got = await fast.nextMessage(5000);
        if (got.address === "/oscrouter/userlist") userList = userNames(got);
        else assert.equal(got.address, "/chunk");
        if (sent % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const cutAt = performance.now();
      assert.deepEqual(userList, ["sender", "fast"], "the client that never reads was cut off");
      assert.equal(server.router.userCount, 2);
      assert.equal(server.slowConsumers, 1);
      assert.ok(sent * 4200 < maxQueueBytes, "it was cut below the byte bound");
      assert.ok(cutAt - started >= writeTimeoutMs, "not before the deadline");
      // The others go on.
      await sender.sendMsg("/after", { type: "i", value: 1 });
      let m = await fast.nextMessage();
      while (m.address === "/chunk") m = await fast.nextMessage(); // the one sent as the cut happened
      assert.equal(m.address, "/after");
    } finally {
      await close();
    }
  });
});

Deno.test("write deadline: a client that reads slowly but keeps up is not cut", async () => {
  await withServer({ writeTimeoutMs: 300 }, async ({ server, lp }) => {
    const sender = await TestClient.connect(lp);
    const reader = await TestClient.connect(lp);
    try {
      await sender.register("sender");
      await reader.register("reader");
      await sender.nextMessage();
      for (let i = 0; i < 20; i++) {
        await sender.sendMsg("/tick", { type: "i", value: i });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (let i = 0; i < 20; i++) assert.equal((await reader.nextMessage()).address, "/tick");
      assert.equal(server.slowConsumers, 0);
      assert.equal(server.router.userCount, 2);
    } finally {
      await sender.close();
      await reader.close();
    }
  });
});

Deno.test("ping timeout: a client that pinged and then went silent (socket open) leaves the user list", async () => {
  const pingTimeoutMs = 400;
  await withServer({ pingTimeoutMs }, async ({ server, lp, slip }) => {
    const band = await TestClient.connect(lp);
    const silent = await TestClient.connectFrom(slip, "127.0.0.7", "slip");
    const quiet = await TestClient.connect(lp); // never pings: Pd clients do not
    const pinger = await TestClient.connect(lp); // pings every 100 ms
    try {
      await band.register("band");
      await silent.register("silent");
      await quiet.register("quiet");
      await pinger.register("pinger");
      await eventually(() => server.router.userCount === 4, "all registered");
      await silent.sendMsg("/oscrouter/ping");
      const wentSilent = performance.now();
      let pinging = true;
      const pings = (async () => {
        while (pinging) {
          await pinger.sendMsg("/oscrouter/ping");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      // The silent client keeps its socket open and keeps reading; it just sends nothing.
      let error: string[] | undefined;
      while (error === undefined) {
        const m = await silent.nextMessage(3000);
        if (m.address === "/oscrouter/error") error = m.args.map((a) => (a as { value: string }).value);
      }
      const tookMs = performance.now() - wentSilent;
      assert.equal(error[0], "idle_timeout");
      assert.match(error[1]!, /reconnect/);
      await silent.expectClosed();
      assert.ok(tookMs >= pingTimeoutMs, `closed after ${tookMs.toFixed(0)} ms, before the timeout`);
      assert.ok(tookMs < pingTimeoutMs + 2500, `closed after ${tookMs.toFixed(0)} ms`);
      await eventually(() => !server.router.snapshot()[0]!.users.includes("silent"), "silent left", 2000);
      pinging = false;
      await pings;
      assert.deepEqual(server.router.snapshot(), [{ name: "band", users: ["band", "quiet", "pinger"] }]);
      assert.ok(!quiet.closed && !pinger.closed);
      assert.equal(server.router.counters.errors.idle_timeout, 1);
    } finally {
      await Promise.all([band, silent, quiet, pinger].map((c) => c.close()));
    }
  });
});

Deno.test("ping timeout: 0 turns it off", async () => {
  await withServer({ pingTimeoutMs: 0, writeTimeoutMs: 100 }, async ({ server, lp }) => {
    const client = await TestClient.connect(lp);
    try {
      await client.register("a");
      await client.sendMsg("/oscrouter/ping");
      await client.expectSilence(600);
      assert.equal(server.router.userCount, 1);
    } finally {
      await client.close();
    }
  });
});
