/** Password guessing over real sockets, from several loopback source addresses. */
import assert from "node:assert/strict";
import { NetClient, registerOnce, withRouter } from "./net_client.ts";

/** Wrong-password registers from one address for `ms`, 8 at a time; counts the answers. */
async function guess(port: number, address: string, ms: number) {
  const counts: Record<string, number> = {};
  const end = Date.now() + ms;
  let n = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (Date.now() < end) {
      const code = await registerOnce(port, address, ["eve", "band", "x", `guess${n++}`]);
      counts[code] = (counts[code] ?? 0) + 1;
    }
  }));
  return counts;
}

Deno.test("guessing: one address guessing is slowed while a musician from another joins at once", async () => {
  await withRouter({}, async (port) => {
    const ana = await NetClient.connect(port, "127.0.0.3");
    try {
      ana.register("ana", "band", "upw", "right-password");
      assert.equal(await ana.outcome(), "joined");
      const flood = guess(port, "127.0.0.2", 1500);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = performance.now();
      const bob = await registerOnce(port, "127.0.0.4", ["bob", "band", "upw", "right-password"]);
      const joinMs = performance.now() - started;
      const counts = await flood;
      assert.equal(bob, "joined", "the musician from another address joins on the first try");
      assert.ok(joinMs < 1000, `joined in ${joinMs.toFixed(0)} ms`);
      const wrong = counts.wrong_group_password ?? 0;
      assert.ok(wrong >= 5 && wrong <= 8, `${wrong} guesses were checked (5 before the lock, then ~1 per lock)`);
      assert.ok((counts.too_many_attempts ?? 0) > 0, JSON.stringify(counts));
      // The guesser is refused even with the right password while locked; another address is not.
      assert.equal(await registerOnce(port, "127.0.0.2", ["eve", "band", "x", "right-password"]), "too_many_attempts");
      assert.equal(await registerOnce(port, "127.0.0.5", ["cy", "band", "upw", "right-password"]), "joined");
    } finally {
      await ana.close();
    }
  });
});

Deno.test("guessing: wrong-password registers per second from one address, without and with the limits", async () => {
  const rates: Record<string, number> = {};
  for (
    const [label, options] of [
      ["without limits (as before)", {
        attempts: { failureThreshold: Infinity, registerBurst: 1e9, registersPerSecond: 1e9 },
      }],
      ["with the default limits", {}],
    ] as const
  ) {
    await withRouter(options, async (port) => {
      await registerOnce(port, "127.0.0.3", ["ana", "band", "upw", "right-password"]);
      const seconds = 2;
      const counts = await guess(port, "127.0.0.2", seconds * 1000);
      rates[label] = (counts.wrong_group_password ?? 0) / seconds;
    });
  }
  console.log(
    Object.entries(rates).map(([label, rate]) => `${label}: ${rate.toFixed(1)} wrong-password registers/s checked`)
      .join("; "),
  );
  assert.ok(rates["with the default limits"]! * 20 < rates["without limits (as before)"]!, JSON.stringify(rates));
  assert.ok(rates["with the default limits"]! <= 4, "5 guesses, then one per lock of 1 s, 2 s ...");
});

Deno.test("guessing: checking declared scrypt hashes never stalls routing for the others", async () => {
  const { loadGroupsFile } = await import("../../lib/access/groups_file.ts");
  const groups = await loadGroupsFile(new URL("../../examples/deploy/groups.toml", import.meta.url).pathname);
  await withRouter({ groups }, async (port) => {
    const ana = await NetClient.connect(port, "127.0.0.3");
    const bob = await NetClient.connect(port, "127.0.0.4");
    try {
      ana.register("ana", "band", "upw", "band-example-password");
      await ana.waitFor(2);
      bob.register("bob", "band", "upw", "band-example-password");
      await bob.waitFor(2);
      let flooding = true;
      let checked = 0;
      const flood = Promise.all(Array.from({ length: 6 }, async (_, i) => {
        while (flooding) {
          const code = await registerOnce(port, `127.0.1.${i + 1}`, ["eve", "band", "x", `guess${checked}`]);
          if (code === "wrong_group_password") checked++;
          else await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }));
      const latencies: number[] = [];
      for (let i = 0; i < 60; i++) {
        const have = bob.messages.length;
        const sent = performance.now();
        ana.send("/note", String(i));
        await bob.waitFor(have + 1);
        latencies.push(performance.now() - sent);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      flooding = false;
      await flood;
      latencies.sort((a, b) => a - b);
      const median = latencies[30]!;
      console.log(
        `${checked} wrong passwords checked against scrypt (ln=15) meanwhile; message latency median ` +
          `${median.toFixed(1)} ms, worst ${latencies.at(-1)!.toFixed(1)} ms`,
      );
      assert.ok(checked >= 10, `${checked} checks ran`);
      assert.ok(median < 50, `median ${median.toFixed(1)} ms: a check in the router's thread would stall ~150 ms`);
    } finally {
      await ana.close();
      await bob.close();
    }
  });
});
