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
          /^1 connections, 1 groups, 1 users; [\d.]+ packets\/s in, [\d.]+ out; \d+ bytes queued; memory budget \d+ of 268435456 bytes, 0 clients cut off, 0 connections refused so far$/,
        );
        assert.match(lines.at(-1)!, /^0 connections, 0 groups, 0 users/);
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
