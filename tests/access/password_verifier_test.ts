/** The password-check queue: fair per address, bounded, with a controllable check. */
import assert from "node:assert/strict";
import { parsePasswordHash } from "../../lib/access/password_hash.ts";
import { PasswordVerifier } from "../../lib/access/password_verifier.ts";

const HASH = parsePasswordHash(
  "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0MTI",
);
const bytes = (text: string) => new TextEncoder().encode(text);

/** A verifier whose checks end when the test says; records the order they ran in. */
function setup(options: { concurrency?: number; maxWaitingAddresses?: number } = {}) {
  const ran: string[] = [];
  const ends: (() => void)[] = [];
  const verifier = new PasswordVerifier({
    ...options,
    verify: (_hash, password) =>
      new Promise((resolve) => {
        ran.push(new TextDecoder().decode(password));
        ends.push(() => resolve(false));
      }),
  });
  /** Ends the oldest running check and lets the next start. */
  const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
  const finishOne = async () => {
    for (let i = 0; i < 5 && ends.length === 0; i++) await tick(); // the checks start a tick later
    ends.shift()!();
    for (let i = 0; i < 3; i++) await tick();
  };
  return { verifier, ran, ends, finishOne };
}

Deno.test("verifier: a flood from 20 addresses x 4 does not refuse a new address; it waits behind one check of each", async () => {
  const { verifier, ran, finishOne } = setup({ concurrency: 2 });
  const flood: (Promise<boolean> | string)[] = [];
  for (let round = 0; round < 4; round++) {
    for (let a = 0; a < 20; a++) flood.push(verifier.start(HASH, bytes(`guess-${a}-${round}`), `127.1.0.${a}`));
  }
  assert.ok(flood.every((c) => c instanceof Promise), "80 checks from 20 addresses are all accepted");
  // Before: 2 running + 64 waiting in one shared queue, so the musician got "busy" (server_busy).
  const musician = verifier.start(HASH, bytes("right"), "127.0.0.5");
  assert.ok(musician instanceof Promise, `the musician is queued, not refused: ${musician}`);
  let checksBefore = 0;
  while (!ran.includes("right")) {
    await finishOne();
    checksBefore++;
  }
  // The 2 running, then round-robin: one of each of the 20 waiting addresses, then her.
  assert.ok(checksBefore <= 2 + 20, `${checksBefore} checks ended before hers started`);
  assert.equal(ran.indexOf("right"), 22);
  assert.deepEqual(
    ran.slice(2, 22).map((p) => Number(p.split("-")[1])).sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i),
    "one check from each address",
  );
  while (verifier.pending > 0) await finishOne();
  await Promise.all(flood);
  await musician;
  assert.equal(verifier.pending, 0);
  assert.equal(verifier.waitingAddresses, 0);
});

Deno.test("verifier: 4 checks per address; addresses waiting are capped (server_busy beyond)", async () => {
  const { verifier, finishOne } = setup({ concurrency: 1, maxWaitingAddresses: 3 });
  const checks: (Promise<boolean> | string)[] = [];
  for (let i = 0; i < 4; i++) checks.push(verifier.start(HASH, bytes(`a${i}`), "a"));
  assert.equal(verifier.start(HASH, bytes("a4"), "a"), "address_busy", "a fifth from one address");
  checks.push(verifier.start(HASH, bytes("b"), "b"), verifier.start(HASH, bytes("c"), "c"));
  assert.equal(verifier.waitingAddresses, 3, "a (3 waiting, 1 running), b, c");
  assert.equal(verifier.start(HASH, bytes("d"), "d"), "busy", "a fourth address waiting is refused");
  checks.push(verifier.start(HASH, bytes("b2"), "b"));
  assert.ok(checks.at(-1) instanceof Promise, "an address already waiting may add to its own queue");
  while (verifier.pending > 0) await finishOne();
  await Promise.all(checks);
  assert.equal(verifier.pending, 0);
});

Deno.test("verifier: only a right password is remembered; a wrong one is checked again each time", async () => {
  const verifier = new PasswordVerifier({
    verify: (_hash, password) => Promise.resolve(new TextDecoder().decode(password) === "right"),
  });
  for (let attempt = 0; attempt < 2; attempt++) {
    assert.equal(verifier.known(HASH, bytes("wrong")), undefined, `attempt ${attempt}: not known`);
    const check = verifier.start(HASH, bytes("wrong"), "203.0.113.5");
    assert.ok(check instanceof Promise);
    assert.equal(await check, false);
  }
  assert.equal(verifier.known(HASH, bytes("wrong")), undefined, "a failed check is not remembered as right");
  const right = verifier.start(HASH, bytes("right"), "198.51.100.1");
  assert.ok(right instanceof Promise);
  assert.equal(await right, true);
  assert.equal(verifier.known(HASH, bytes("right")), true, "a right one is");
  assert.equal(verifier.known(HASH, bytes("wrong")), undefined);
});
