/**
 * The memory budget over real sockets: partial packets and queues of clients that do not read are
 * charged to it, it never passes its limit however many attack at once, and a well-behaved pair in
 * another group keeps exchanging.
 */
import assert from "node:assert/strict";
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import type { MemoryBudget } from "../../lib/limits/memory_budget.ts";
import { eventually, withServer } from "./harness.ts";
import { s, TestClient } from "./test_client.ts";

/** Records the most the budget ever held, checked after every charge. */
function watch(budget: MemoryBudget): { maxUsedBytes: number } {
  const seen = { maxUsedBytes: 0 };
  const charge = budget.charge.bind(budget);
  budget.charge = (holder, delta) => {
    const granted = charge(holder, delta);
    seen.maxUsedBytes = Math.max(seen.maxUsedBytes, budget.usedBytes);
    return granted;
  };
  return seen;
}

const register = (user: string, group: string) =>
  encodeLengthPrefixFrame(
    encodeMessage({ address: "/oscrouter/register", args: [s(user), s("pw"), s(group), s("gpw")] }),
  );

Deno.test("budget: partial packets and non-reading receivers at once never pass it; the pair keeps talking", async () => {
  const maxMemoryBytes = 8 << 20;
  await withServer({
    maxMemoryBytes,
    maxQueueBytes: 4 << 20,
    writeTimeoutMs: 60_000, // the budget, not the deadline, must hold this
  }, async ({ server, lp, slip }) => {
    const seen = watch(server.budget);
    const a = await TestClient.connect(lp);
    const b = await TestClient.connect(slip, "slip");
    const flooder = await TestClient.connect(lp);
    const receivers: Deno.TcpConn[] = [];
    const holders: TestClient[] = [];
    try {
      await a.register("a", "pair");
      await b.register("b", "pair");
      await a.nextMessage();
      await flooder.register("flooder", "victims");
      // 16 members of the flooder's group that never read.
      for (let i = 0; i < 16; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: lp });
        receivers.push(conn);
        await conn.write(register(`r${i}`, "victims"));
        await eventually(() => server.router.userCount === 4 + i, `r${i} registered`);
      }
      // 30 connections from 5 other addresses each start a 1 MiB packet and send half of it.
      for (let i = 0; i < 30; i++) {
        holders.push(await TestClient.connectFrom(i % 2 ? slip : lp, `127.0.0.${10 + (i % 5)}`));
      }
      const half = new Uint8Array(512 * 1024).fill(0x41);
      const partials = holders.map(async (h, i) => {
        try {
          if (i % 2 === 0) await h.sendRaw(Uint8Array.of(0, 0x10, 0, 0)); // length prefix: 1 MiB
          else await h.sendRaw(Uint8Array.of(0xc0)); // SLIP: a frame that never ends
          for (let at = 0; at < half.length; at += 32 * 1024) await h.sendRaw(half.subarray(at, at + 32 * 1024));
        } catch {
          // cut off by the budget
        }
      });
      // The flood: 4 KB messages to the 16 non-readers, while the pair exchanges.
      const blob = { type: "b" as const, value: new Uint8Array(4096) };
      let flooding = true;
      const flood = (async () => {
        for (let i = 0; flooding; i++) {
          await flooder.sendMsg("/flood", blob);
          if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 0));
        }
      })();
      for (let i = 0; i < 100; i++) {
        await a.sendMsg("/note", { type: "i", value: i });
        const m = await b.nextMessage(5000);
        assert.deepEqual(m, { address: "/note", args: [{ type: "i", value: i }] }, "the pair lost a message");
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(partials);
      flooding = false;
      await flood.catch(() => {});
      assert.ok(seen.maxUsedBytes <= maxMemoryBytes, `the budget held ${seen.maxUsedBytes} bytes`);
      assert.ok(seen.maxUsedBytes > maxMemoryBytes / 2, `the attack only reached ${seen.maxUsedBytes} bytes`);
      assert.ok(server.budget.shedCount + server.slowConsumers > 0, "someone had to give way");
      assert.ok(!a.closed && !b.closed, "the pair was not cut");
      assert.deepEqual(server.router.snapshot().find((g) => g.name === "pair")?.users, ["a", "b"]);
    } finally {
      for (const conn of receivers) conn.close();
      await Promise.all([a, b, flooder, ...holders].map((c) => c.close()));
    }
    await eventually(() => server.connectionCount === 0, "every connection is gone");
    assert.ok(server.budget.holderCount <= 1, "nothing is charged but free chunks");
    assert.ok(server.budget.usedBytes <= maxMemoryBytes);
  });
});

Deno.test("budget: a partial packet that would hold the most when it is full is refused: server_busy", async () => {
  // 2 MiB packets allowed, 1 MiB of memory for all: a growing packet meets the budget first.
  const options = { maxMemoryBytes: 1 << 20, maxPacketBytes: 2 << 20, maxQueueBytes: 8 << 20 };
  await withServer(options, async ({ server, lp, slip }) => {
    const pd = await TestClient.connect(slip, "slip");
    const sc = await TestClient.connect(lp);
    try {
      await pd.register("pd");
      await sc.register("sc");
      await pd.nextMessage();
      // SLIP: the frame is dropped, the connection goes on.
      await pd.sendRaw(Uint8Array.of(0xc0));
      const body = new Uint8Array(64 * 1024).fill(0x41);
      for (let i = 0; i < 24; i++) await pd.sendRaw(body);
      const [code, message] = await pd.nextError();
      assert.equal(code, "server_busy");
      assert.match(message, /dropped/);
      await pd.sendRaw(Uint8Array.of(0xc0)); // the END that closes the dropped frame
      await pd.sendMsg("/after", { type: "i", value: 1 });
      assert.equal((await sc.nextMessage()).address, "/after", "the SLIP client goes on");
      assert.ok(server.budget.usedBytes < 1 << 20);
      // Length prefix: cannot resynchronise, so the connection is closed after the error.
      await sc.sendRaw(Uint8Array.of(0, 0x18, 0, 0)); // 1.5 MiB
      for (let i = 0; i < 24 && !sc.closed; i++) await sc.sendRaw(body).catch(() => {});
      assert.equal((await sc.nextError())[0], "server_busy");
      await sc.expectClosed();
      await eventually(() => server.router.userCount === 1, "sc left");
    } finally {
      await pd.close();
      await sc.close();
    }
  });
});
