import assert from "node:assert/strict";
import { CHUNK_BYTES, ChunkPool } from "../../lib/server/chunk_pool.ts";
import { MemoryBudget } from "../../lib/limits/memory_budget.ts";

Deno.test("chunk pool: free chunks count in the budget, never at a client's expense", () => {
  const budget = new MemoryBudget(4 * CHUNK_BYTES);
  const pool = new ChunkPool({ maxFreeChunks: 100, budget });
  let cut = 0;
  const client = { peer: "client", shed: () => cut++ };
  assert.ok(budget.charge(client, 2 * CHUNK_BYTES));
  for (let i = 0; i < 4; i++) pool.give(new Uint8Array(CHUNK_BYTES));
  assert.equal(pool.freeChunks, 2, "only what fits beside the client");
  assert.equal(cut, 0);
  assert.equal(budget.usedBytes, 4 * CHUNK_BYTES);
  // A charge that needs room takes it from the pool (spare memory), not from the client, even
  // though the client holds as much.
  assert.ok(budget.charge({ peer: "newcomer", shed: () => cut++ }, CHUNK_BYTES));
  assert.equal(cut, 0);
  assert.equal(pool.freeChunks, 1, "the pool gave up one chunk, the room needed, not all of them");
  assert.equal(budget.usedBytes, 4 * CHUNK_BYTES);
  assert.ok(budget.charge({ peer: "another", shed: () => cut++ }, CHUNK_BYTES));
  assert.equal(cut, 0);
  assert.equal(pool.freeChunks, 0, "then its last one");
  budget.release(client);
  pool.give(new Uint8Array(CHUNK_BYTES));
  assert.equal(pool.freeChunks, 1, "and may keep chunks again afterwards");
});

Deno.test("chunk pool: trim keeps the chunks asked and gives the rest back to the budget", () => {
  const budget = new MemoryBudget(10 * CHUNK_BYTES);
  const pool = new ChunkPool({ maxFreeChunks: 10, budget });
  for (let i = 0; i < 8; i++) pool.give(new Uint8Array(CHUNK_BYTES));
  assert.equal(pool.lastTakenAt, -Infinity);
  pool.trim(2);
  assert.equal(pool.freeChunks, 2);
  assert.equal(budget.usedBytes, 2 * CHUNK_BYTES);
  pool.trim(5);
  assert.equal(pool.freeChunks, 2, "trim never adds");
  pool.take();
  assert.ok(pool.lastTakenAt > 0);
});

Deno.test("chunk pool: takeFree hands over free chunks and their bytes; take allocates when empty", () => {
  const budget = new MemoryBudget(10 * CHUNK_BYTES);
  const pool = new ChunkPool({ maxFreeChunks: 3, budget });
  for (let i = 0; i < 5; i++) pool.give(new Uint8Array(CHUNK_BYTES));
  assert.equal(pool.freeChunks, 3, "at most maxFreeChunks");
  assert.equal(budget.usedBytes, 3 * CHUNK_BYTES);
  assert.equal(pool.takeFree(2).length, 2);
  assert.equal(budget.usedBytes, CHUNK_BYTES);
  assert.equal(pool.takeFree(5).length, 1);
  assert.deepEqual(pool.takeFree(1), []);
  assert.equal(pool.take().length, CHUNK_BYTES);
  assert.equal(budget.usedBytes, 0);
  assert.equal(budget.holderCount, 0);
});
