/**
 * /metrics reports each counter under its own name: packets sent are not packets received, and
 * refused connections are not slow consumers (a live router, real sockets, counts made to differ).
 */
import assert from "node:assert/strict";
import { startHttp } from "../../lib/http/http_server.ts";
import { eventually, withServer } from "../server/harness.ts";
import { TestClient } from "../server/test_client.ts";

/** The value of one unlabelled metric in a Prometheus text page. */
function metricValue(page: string, name: string): number {
  const match = new RegExp(`^tcposcrouter_${name} (\\d+)$`, "m").exec(page);
  assert.ok(match, `tcposcrouter_${name} is missing from /metrics`);
  return Number(match[1]);
}

Deno.test("metrics: packets sent, packets received, refused connections and slow consumers, each its own count", async () => {
  await withServer({ maxConnections: 3 }, async ({ server, lp }) => {
    const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "9.9.9" });
    const clients: TestClient[] = [];
    try {
      const ana = await TestClient.connect(lp);
      const bob = await TestClient.connect(lp);
      const cid = await TestClient.connect(lp);
      clients.push(ana, bob, cid);
      await ana.register("ana");
      await bob.register("bob");
      await cid.register("cid");
      for (let i = 0; i < 5; i++) await ana.sendMsg("/note", { type: "i", value: i });
      await eventually(() => server.router.counters.packetsIn === 8, "3 registers and 5 notes received");
      // One over --max-connections: refused with server_full, and counted as a refusal.
      const refused = await TestClient.connect(lp);
      clients.push(refused);
      assert.equal((await refused.nextError())[0], "server_full");
      await eventually(() => server.refusedConnections === 1, "the refusal counted");

      assert.equal(server.slowConsumers, 0);
      // The status is sampled once a second, and user lists may still go out: poll until the page
      // agrees with the counters read just before it (or give up and compare the last one).
      let page = "";
      let counters = { ...server.router.counters };
      for (const deadline = Date.now() + 6000; Date.now() < deadline;) {
        counters = { ...server.router.counters };
        page = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
        const agrees = metricValue(page, "packets_received_total") === counters.packetsIn &&
          metricValue(page, "packets_sent_total") === counters.packetsOut;
        if (agrees) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(
        counters.packetsOut > counters.packetsIn + 2,
        "sent and received differ, so the test can tell them apart",
      );
      assert.equal(metricValue(page, "packets_received_total"), counters.packetsIn);
      assert.equal(metricValue(page, "packets_sent_total"), counters.packetsOut);
      assert.equal(metricValue(page, "refused_connections_total"), 1);
      assert.equal(metricValue(page, "slow_consumers_total"), 0);
    } finally {
      for (const client of clients) await client.close();
      await server.close();
      await http.shutdown();
    }
  });
});
