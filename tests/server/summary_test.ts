import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { startSummary } from "../../lib/server/summary.ts";
import { withServer } from "./harness.ts";
import { TestClient } from "./test_client.ts";

Deno.test("summary: a line per interval while anyone is connected, one more after, then quiet", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (r) => records.push(r) },
    loggers: [{ category: ["tcposcrouter", "summary"], lowestLevel: "info", sinks: ["memory"] }],
  });
  try {
    await withServer({}, async ({ server, lp }) => {
      const summary = startSummary(server, 100);
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      try {
        await sleep(250);
        assert.equal(records.length, 0, "an idle router stays quiet");
        const a = await TestClient.connect(lp);
        await a.register("a");
        await sleep(250);
        await a.close();
        await sleep(350);
        const lines = records.map((r) => r.message.join(""));
        assert.ok(lines.length >= 2, lines.join("\n"));
        assert.match(
          lines[0]!,
          /^Connections: 1, groups: 1, users: 1; packets\/s in: [\d.]+, out: [\d.]+; bytes queued: \d+; memory budget: \d+ of 268435456 bytes; clients cut off: 0; connections refused: 0$/,
        );
        assert.match(lines.at(-1)!, /^Connections: 0, groups: 0, users: 0;/);
        const count = records.length;
        await sleep(250);
        assert.equal(records.length, count, "quiet again once everyone left");
      } finally {
        summary.stop();
      }
    });
  } finally {
    await reset();
  }
});

Deno.test("summary: counts in log lines read right for one (never '1 users')", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (r) => records.push(r) },
    loggers: [{ category: ["tcposcrouter"], lowestLevel: "info", sinks: ["memory"] }],
  });
  try {
    await withServer({}, async ({ server, lp }) => {
      const summary = startSummary(server, 100);
      const a = await TestClient.connect(lp);
      const b = await TestClient.connect(lp);
      try {
        await a.register("a");
        await b.register("b");
        await b.close();
        await a.nextMessage(); // the user list without b: the leave was logged before it was sent
        await new Promise((resolve) => setTimeout(resolve, 250));
      } finally {
        summary.stop();
        await a.close();
        await b.close();
      }
      const lines = records.map((r) => r.message.join(""));
      assert.ok(lines.some((l) => /^b@band left \(.*\); users still in the group: 1$/.test(l)), lines.join("\n"));
      assert.ok(lines.some((l) => l.startsWith("Connections: 1, groups: 1, users: 1;")), lines.join("\n"));
      assert.ok(!lines.some((l) => /\b1 (users|groups|connections)\b/.test(l)), lines.join("\n"));
    });
  } finally {
    await reset();
  }
});
