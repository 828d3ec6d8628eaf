import assert from "node:assert/strict";
import { AttemptLimiter, DEFAULT_ATTEMPT_LIMITS } from "../../lib/access/attempt_limiter.ts";

function clock() {
  const c = { now: 0 };
  return { c, limiter: new AttemptLimiter({ now: () => c.now }) };
}

Deno.test("attempts: the lock doubles 1 s, 2 s, 4 s ... up to 15 min after five failures", () => {
  const { c, limiter } = clock();
  for (let i = 0; i < 4; i++) {
    assert.equal(limiter.check("a"), undefined);
    assert.equal(limiter.fail("a"), 0, "the first four failures do not lock");
  }
  const locks: number[] = [];
  for (let i = 0; i < 14; i++) {
    assert.equal(limiter.check("a"), undefined, `attempt ${i} allowed once the lock ended`);
    const lock = limiter.fail("a");
    locks.push(lock);
    assert.deepEqual(limiter.check("a"), { reason: "backoff", retryAfterMs: lock });
    c.now += lock - 1;
    assert.equal(limiter.check("a")?.reason, "backoff", "still locked 1 ms before the end");
    c.now += 1;
  }
  assert.deepEqual(locks.slice(0, 11), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900].map((s) => s * 1000));
  assert.deepEqual(locks.slice(11), [900_000, 900_000, 900_000], "capped at 15 min");
});

Deno.test("attempts: other addresses are never slowed", () => {
  const { limiter } = clock();
  for (let i = 0; i < 20; i++) limiter.fail("203.0.113.5");
  assert.equal(limiter.check("203.0.113.5")?.reason, "backoff");
  assert.equal(limiter.check("203.0.113.6"), undefined);
  assert.equal(limiter.check("2001:db8:1:2::/64"), undefined);
});

Deno.test("attempts: a success does not erase failures; a quiet period forgives them", () => {
  const { c, limiter } = clock();
  for (let i = 0; i < 5; i++) limiter.fail("a");
  c.now += 1000;
  assert.equal(limiter.check("a"), undefined); // a success here records nothing
  assert.equal(limiter.fail("a"), 2000, "still hot: the next failure doubles");
  c.now += DEFAULT_ATTEMPT_LIMITS.quietMs + 2000;
  assert.equal(limiter.check("a"), undefined);
  assert.equal(limiter.fail("a"), 0, "forgiven after the quiet period: failures count from zero");
});

Deno.test("attempts: failures older than the window do not add up", () => {
  const { c, limiter } = clock();
  for (let i = 0; i < 20; i++) {
    assert.equal(limiter.fail("a"), 0, `failure ${i}, 15 s apart, never locks`);
    c.now += 15_000;
  }
});

Deno.test("attempts: registers per address are rate-limited (burst 64, then 10/s)", () => {
  const { c, limiter } = clock();
  for (let i = 0; i < 64; i++) assert.equal(limiter.check("a"), undefined, `burst ${i}`);
  const refused = limiter.check("a");
  assert.equal(refused?.reason, "rate");
  assert.equal(refused.retryAfterMs, 100);
  assert.equal(limiter.check("b"), undefined, "another address has its own bucket");
  c.now += 100;
  assert.equal(limiter.check("a"), undefined);
  assert.equal(limiter.check("a")?.reason, "rate");
  let allowed = 0;
  for (let t = 0; t < 10_000; t += 10) {
    c.now += 10;
    if (limiter.check("a") === undefined) allowed++;
  }
  assert.ok(allowed >= 99 && allowed <= 101, `${allowed} in 10 s at 100 tries/s`);
});

Deno.test("attempts: idle addresses are forgotten; the table is bounded", () => {
  const c = { now: 0 };
  const limiter = new AttemptLimiter({ now: () => c.now, maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) limiter.check(`10.0.${i >> 8}.${i & 255}`);
  assert.ok(limiter.size <= 100, `${limiter.size} tracked`);
  c.now += 60_000;
  limiter.check("192.0.2.1");
  assert.equal(limiter.size, 1, "idle ones swept when a new one arrives");
});
