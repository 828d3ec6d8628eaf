import assert from "node:assert/strict";
import { type BudgetHolder, MemoryBudget } from "../../lib/limits/memory_budget.ts";

function holders() {
  const shed: string[] = [];
  const make = (peer: string): BudgetHolder => ({ peer, shed: () => shed.push(peer) });
  return { shed, make };
}

Deno.test("memory budget: charges and returns add up; an unknown holder holds nothing", () => {
  const { make } = holders();
  const budget = new MemoryBudget(1000);
  const a = make("a"), b = make("b");
  assert.ok(budget.charge(a, 300));
  assert.ok(budget.charge(b, 200));
  assert.ok(budget.charge(a, -100));
  assert.equal(budget.usedBytes, 400);
  assert.equal(budget.heldBy(a), 200);
  budget.release(b);
  assert.equal(budget.usedBytes, 200);
  assert.equal(budget.heldBy(b), 0);
  assert.ok(budget.charge(a, -500)); // never below zero
  assert.equal(budget.usedBytes, 0);
});

Deno.test("memory budget: over the limit the biggest other holder is shed, smallest first never", () => {
  const { shed, make } = holders();
  const budget = new MemoryBudget(1000);
  const hog = make("hog"), mid = make("mid"), newcomer = make("new");
  budget.charge(hog, 600);
  budget.charge(mid, 300);
  assert.ok(budget.charge(newcomer, 200));
  assert.deepEqual(shed, ["hog"]);
  assert.equal(budget.usedBytes, 500);
  assert.equal(budget.shedCount, 1);
});

Deno.test("memory budget: the charging holder, if it would hold the most, is refused and nobody is shed", () => {
  const { shed, make } = holders();
  const budget = new MemoryBudget(1000);
  const a = make("a"), b = make("b");
  budget.charge(a, 400);
  budget.charge(b, 500);
  assert.ok(!budget.charge(b, 200));
  assert.deepEqual(shed, []);
  assert.equal(budget.heldBy(b), 500);
  assert.ok(!budget.charge(a, 700)); // would hold 1100 > what b holds: refused
  assert.deepEqual(shed, []);
});

Deno.test("memory budget: the total never passes the limit under random charges", () => {
  const { make } = holders();
  const budget = new MemoryBudget(10_000);
  const hs = Array.from({ length: 20 }, (_, i) => make(`h${i}`));
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) {
    const h = hs[Math.floor(rand() * hs.length)]!;
    budget.charge(h, Math.floor(rand() * 3000) - 1000);
    assert.ok(budget.usedBytes <= budget.limitBytes && budget.usedBytes >= 0);
    const sum = hs.reduce((n, x) => n + budget.heldBy(x), 0);
    assert.equal(sum, budget.usedBytes);
  }
});

Deno.test("memory budget: tryCharge takes only what fits, shedding nobody", () => {
  const { shed, make } = holders();
  const budget = new MemoryBudget(1000);
  const hog = make("hog"), pool = make("pool");
  budget.charge(hog, 900);
  assert.ok(!budget.tryCharge(pool, 200));
  assert.deepEqual(shed, []);
  assert.ok(budget.tryCharge(pool, 100));
  assert.equal(budget.usedBytes, 1000);
  assert.equal(budget.holderCount, 2);
});

Deno.test("memory budget: a holder of spare memory is shed first, even when it holds the least", () => {
  const { shed, make } = holders();
  const budget = new MemoryBudget(1000);
  const client = make("client");
  const cache = { ...make("cache"), spare: true };
  budget.charge(client, 800);
  budget.charge(cache, 100);
  assert.ok(budget.charge(make("other"), 150));
  assert.deepEqual(shed, ["cache"]);
  assert.equal(budget.usedBytes, 950);
});

Deno.test("memory budget: clientBytes counts what clients hold, not the spare pool; usedBytes counts both", () => {
  const { make } = holders();
  const budget = new MemoryBudget(10_000);
  const pool = { ...make("pool"), spare: true };
  assert.ok(budget.charge(make("a"), 300));
  assert.ok(budget.charge(make("b"), 200));
  assert.ok(budget.charge(pool, 4096));
  assert.equal(budget.clientBytes(), 500);
  assert.equal(budget.usedBytes, 4596);
  assert.equal(budget.holderCount, 3);
});
