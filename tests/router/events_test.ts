/** The router's event sink and refusal log lines: who, from where, why. */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { EventLog } from "../../lib/router/event_log.ts";
import { Router } from "../../lib/router/router.ts";
import { errorOf, FakeSession, msg, register, s } from "./fake_session.ts";

Deno.test("events: a join, a leave, and refusals name user@group, the address and the reason", () => {
  let now = 1_000_000;
  const events = new EventLog(200, () => now);
  const router = new Router({ events });
  const ana = new FakeSession("10.0.0.2:50000");
  const bob = new FakeSession("10.0.0.3:50001");
  const mallory = new FakeSession("10.0.0.9:50002");
  router.receive(ana, register("ana"));
  now += 1000;
  router.receive(bob, register("bob"));
  now += 1000;
  router.receive(mallory, register("mallory", "band", undefined, "x", "wrong"));
  assert.equal(errorOf(mallory.take()[0]!)[0], "wrong_group_password");
  now += 1000;
  router.leave(bob);
  router.leave(mallory); // refused: no leave event
  const unregistered = new FakeSession("10.0.0.4:50003");
  router.receive(unregistered, msg("/note", { type: "i", value: 1 }));
  assert.deepEqual(events.recent(), [
    { at: 1_003_000, kind: "refused", who: undefined, address: "10.0.0.4:50003", reason: "not_registered" },
    { at: 1_003_000, kind: "leave", who: "bob@band", address: "10.0.0.3:50001" },
    {
      at: 1_002_000,
      kind: "refused",
      who: "mallory@band",
      address: "10.0.0.9:50002",
      reason: "wrong_group_password",
    },
    { at: 1_001_000, kind: "join", who: "bob@band", address: "10.0.0.3:50001" },
    { at: 1_000_000, kind: "join", who: "ana@band", address: "10.0.0.2:50000" },
  ]);
});

Deno.test("events: too_many_attempts names the user@group the register asked for, in the event and the log", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (r) => records.push(r) },
    loggers: [{ category: ["tcposcrouter"], lowestLevel: "info", sinks: ["memory"] }],
  });
  try {
    const router = new Router({ attempts: { registersPerSecond: 1, registerBurst: 1 } });
    router.receive(new FakeSession("10.0.0.5:1", "slip", "10.0.0.5"), register("ana"));
    const second = new FakeSession("10.0.0.5:2", "slip", "10.0.0.5");
    router.receive(second, register("ana2", "choir"));
    assert.equal(errorOf(second.take()[0]!)[0], "too_many_attempts");
    const refused = router.events.recent()[0]!;
    assert.equal(refused.kind, "refused");
    assert.equal(refused.who, "ana2@choir");
    assert.equal(refused.reason, "too_many_attempts");
    const line = records.find((r) => r.properties["code"] === "too_many_attempts");
    assert.equal(line?.level, "warning");
    assert.equal(line?.properties["who"], "ana2@choir");
  } finally {
    await reset();
  }
});

Deno.test("events: a private message to an unknown user is logged with who sent it", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (r) => records.push(r) },
    loggers: [{ category: ["tcposcrouter"], lowestLevel: "info", sinks: ["memory"] }],
  });
  try {
    const router = new Router();
    const ana = new FakeSession("10.0.0.2:50000");
    router.receive(ana, register("ana"));
    ana.take();
    router.receive(ana, msg("/oscrouter/private", s("nobody"), s("/hi")));
    assert.equal(errorOf(ana.take()[0]!)[0], "unknown_user");
    const line = records.find((r) => r.properties["code"] === "unknown_user");
    assert.equal(line?.level, "warning");
    assert.equal(line?.properties["who"], "ana@band");
    assert.match(String(line?.properties["detail"]), /'nobody'/);
  } finally {
    await reset();
  }
});

Deno.test("events: the log keeps the last 200, newest first", () => {
  const events = new EventLog();
  for (let i = 0; i < 250; i++) events.record({ kind: "join", who: `u${i}@g`, address: "x", at: i });
  const recent = events.recent();
  assert.equal(recent.length, 200);
  assert.equal(recent[0]!.who, "u249@g");
  assert.equal(recent[199]!.who, "u50@g");
  assert.equal(events.total, 250);
});
