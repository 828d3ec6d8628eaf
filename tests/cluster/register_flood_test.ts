/**
 * A flood of registers of new names (each needs slow hashes for the shared state) from a few
 * addresses must not keep a musician from another address out: with `--cluster` the hashes are
 * queued per address and served round-robin, as the groups file's checks are.
 */
import assert from "node:assert/strict";
import { registerMessage } from "../../lib/client/router_client.ts";
import { TestClient } from "../server/test_client.ts";
import { Nats, RouterProcess } from "./fixture.ts";

Deno.test("cluster: strangers registering new names from 16 addresses do not keep a musician from another out", async () => {
  const nats = await Nats.start();
  const router = await RouterProcess.start([nats.url], "flood");
  let flooding = true;
  let sent = 0;
  const open = new Set<TestClient>();
  /** One attacker connection after another from `address`: a register of a new name, then the next. */
  const attacker = async (address: string, lane: number) => {
    for (let n = 0; flooding; n++) {
      let client: TestClient;
      try {
        client = await TestClient.connectFrom(router.port, address);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      open.add(client);
      try {
        const name = `x${address}-${lane}-${n}`;
        await client.send(registerMessage({ user: name, password: "p", group: name, groupPassword: "p", id: 1 }));
        sent++;
        await client.next(20_000).catch(() => {}); // the reply, or an error: then the next name
      } finally {
        open.delete(client);
        await client.close();
      }
    }
  };
  const addresses = Array.from({ length: 16 }, (_, k) => `127.0.0.${k + 2}`);
  const attackers = addresses.flatMap((address) => Array.from({ length: 8 }, (_, lane) => attacker(address, lane)));
  try {
    await new Promise((resolve) => setTimeout(resolve, 2000)); // the queue fills
    assert.ok(sent >= 128, `the flood is under way (${sent} registers sent)`);
    const started = Date.now();
    const musician = await TestClient.connectFrom(router.port, "127.0.0.40");
    try {
      await musician.send(
        registerMessage({ user: "ana", password: "upw", group: "band", groupPassword: "gpw", id: 7 }),
      );
      const reply = await musician.nextMessage(30_000);
      assert.equal(
        reply.address,
        "/oscrouter/register/ana/7",
        `the musician is admitted during the flood, got ${reply.address} ${JSON.stringify(reply.args)}`,
      );
      const waitedMs = Date.now() - started;
      console.log(`the musician waited ${waitedMs} ms during a flood of ${sent} registers`);
      assert.ok(waitedMs < 15_000, `the musician waited ${waitedMs} ms`);
    } finally {
      await musician.close();
    }
  } catch (error) {
    console.error(router.log.slice(-3000));
    throw error;
  } finally {
    flooding = false;
    await Promise.all(attackers);
    for (const client of open) await client.close();
    await router.stop();
    await nats.stop();
  }
});
