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

Deno.test("attempts: one failure per 3 min leaks out and never locks", () => {
  const { c, limiter } = clock();
  for (let i = 0; i < 4; i++) assert.equal(limiter.fail("a"), 0, `burst failure ${i}`);
  for (let i = 0; i < 40; i++) {
    c.now += 3 * 60_000;
    assert.equal(limiter.check("a"), undefined);
    assert.equal(limiter.fail("a"), 0, `failure ${i}, 3 min after the last, never locks`);
  }
  assert.equal(limiter.fail("a"), 1000, "one more at once fills the bucket: locked");
});

/** Fails whenever the limiter allows, `perStep` times every `stepMs`; returns the failures made before `endMs`. */
function guess(limiter: AttemptLimiter, c: { now: number }, stepMs: number, endMs: number, perStep = 1): number {
  let failures = 0;
  for (; c.now < endMs; c.now += stepMs) {
    for (let i = 0; i < perStep; i++) {
      if (limiter.check("a") !== undefined) break;
      limiter.fail("a");
      failures++;
    }
  }
  return failures;
}

Deno.test("attempts: 4 wrong passwords every 61 s (the tester's slowguess.py) are refused after the first minutes", () => {
  const { c, limiter } = clock();
  const hour = 3_600_000;
  const first = guess(limiter, c, 61_000, hour, 4);
  // Before: never refused, 4 * 59 = 236 an hour. Now the bucket is full after the second round.
  assert.ok(first <= 24, `${first} failures in the first hour`);
  const later = guess(limiter, c, 61_000, 11 * hour, 4);
  assert.ok(later <= 20 * 10, `${later} failures over the next ten hours`);
});

Deno.test("attempts: whatever the pace, an address fails at most about 20 times an hour, sustained", () => {
  const hour = 3_600_000;
  for (const stepMs of [1_000, 10_000, 60_000, 90_000, 179_000, 180_000, 181_000, 600_000, 1_860_000]) {
    for (const perStep of [1, 4, 10]) {
      const { c, limiter } = clock();
      const first = guess(limiter, c, stepMs, hour, perStep);
      assert.ok(first <= 24, `every ${stepMs} ms x${perStep}: ${first} in the first hour`);
      const total = guess(limiter, c, stepMs, 25 * hour, perStep);
      // The most possible: 4 at once (the bucket below 5), then one per 3 min as it leaks.
      assert.ok(first + total <= 4 + 20 * 25, `every ${stepMs} ms x${perStep}: ${first + total} in 25 hours`);
    }
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
