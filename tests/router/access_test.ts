/** The router's register path under attack: backoff, rate limit, declared groups, user-list pacing. */
import assert from "node:assert/strict";
import type { GroupsConfig } from "../../lib/access/groups_file.ts";
import { parsePasswordHash, type PasswordHash } from "../../lib/access/password_hash.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { Router, type RouterOptions } from "../../lib/router/router.ts";
import { errorOf, FakeSession, msg, register } from "./fake_session.ts";

const decode = new TextDecoder();

function fakeHash(tag: string): PasswordHash {
  // A well-formed hash whose "password" is `tag`: the fake check below compares against it.
  const salt = btoa(tag.padEnd(12, "_")).replace(/=+$/, "");
  return parsePasswordHash(`$scrypt$ln=10,r=8,p=1$${salt}$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0`);
}
const passwordOf = (hash: PasswordHash) => atob(hash.text.split("$")[3]!).replace(/_+$/, "");

/** A router with a fake clock and a fake, controllable password check. */
function setup(options: RouterOptions = {}) {
  const clock = { now: 1_000_000 };
  const checks: { password: string; resolve: () => void }[] = [];
  const router = new Router({
    ...options,
    now: () => clock.now,
    verifier: {
      verify: (hash, password) =>
        new Promise((resolve) => {
          checks.push({
            password: decode.decode(password),
            resolve: () => resolve(decode.decode(password) === passwordOf(hash)),
          });
        }),
      ...options.verifier,
    },
  });
  const attempt = (address: string, user: string, group: string, userPw = "upw", groupPw = "gpw") => {
    const session = new FakeSession(
      `${address}:${40000 + Math.floor(Math.random() * 20000)}`,
      "length-prefix",
      address,
    );
    router.receive(session, register(user, group, undefined, userPw, groupPw));
    return session;
  };
  /** Resolves every pending check, then lets the router's promise callbacks run. */
  const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await tick();
      while (checks.length > 0) checks.shift()!.resolve();
    }
  };
  return { router, clock, checks, attempt, settle, tick };
}

const code = (session: FakeSession) => errorOf(session.take().at(-1)!)[0];

Deno.test("backoff: five wrong passwords lock that address for 1 s, then 2 s; another address joins at once", () => {
  const { router, clock, attempt } = setup();
  attempt("198.51.100.1", "ana", "band", "upw", "right");
  for (let i = 0; i < 5; i++) {
    const eve = attempt("203.0.113.5", `eve${i}`, "band", "x", `guess${i}`);
    assert.equal(code(eve), "wrong_group_password");
    assert.equal(eve.closed, "wrong_group_password");
  }
  const locked = attempt("203.0.113.5", "eve", "band", "x", "right");
  const [lockedCode, message] = errorOf(locked.take()[0]!);
  assert.equal(lockedCode, "too_many_attempts", "refused even with the right password");
  assert.match(message, /retry in 1 s/);
  assert.equal(locked.closed, "too_many_attempts");
  const bob = attempt("198.51.100.2", "bob", "band", "upw", "right");
  assert.equal((bob.take()[0] as OscMessage).address, "/oscrouter/register/bob/0", "another address is not slowed");

  clock.now += 1000;
  assert.equal(code(attempt("203.0.113.5", "eve", "band", "x", "guess5")), "wrong_group_password");
  const [, again] = errorOf(attempt("203.0.113.5", "eve", "band", "x", "right").take()[0]!);
  assert.match(again, /retry in 2 s/, "the next failure doubles the wait");
  assert.equal(router.counters.errors.too_many_attempts, 2);
});

Deno.test("backoff: a login to one's own group in between does not wipe the failures", () => {
  const { clock, attempt } = setup();
  attempt("198.51.100.1", "ana", "band", "upw", "right");
  for (let i = 0; i < 4; i++) attempt("203.0.113.5", `eve${i}`, "band", "x", `guess${i}`);
  const own = attempt("203.0.113.5", "eve", "eves-own-group");
  assert.equal((own.take()[0] as OscMessage).address, "/oscrouter/register/eve/0");
  assert.equal(code(attempt("203.0.113.5", "eve9", "band", "x", "guess4")), "wrong_group_password");
  assert.equal(code(attempt("203.0.113.5", "eve9", "band", "x", "guess5")), "too_many_attempts");
  clock.now += 1000;
  assert.equal(code(attempt("203.0.113.5", "eve9", "band", "x", "guess5")), "wrong_group_password");
});

Deno.test("backoff: wrong user passwords count too; an IPv6 /64 is one address", () => {
  const { attempt } = setup();
  attempt("198.51.100.1", "ana", "band", "secret", "gpw");
  for (let i = 0; i < 5; i++) {
    assert.equal(code(attempt("2001:db8:1:2::/64", "ana", "band", `guess${i}`, "gpw")), "wrong_user_password");
  }
  assert.equal(code(attempt("2001:db8:1:2::/64", "ana", "band", "secret", "gpw")), "too_many_attempts");
});

Deno.test("rate: 64 registers from one address at once, then 10 per second", () => {
  const { clock, attempt } = setup();
  for (let i = 0; i < 64; i++) {
    const s = attempt("192.0.2.9", `m${i}`, "school");
    assert.equal((s.take()[0] as OscMessage).address, `/oscrouter/register/m${i}/0`, `musician ${i} behind one NAT`);
  }
  const [c, message] = errorOf(attempt("192.0.2.9", "m64", "school").take()[0]!);
  assert.equal(c, "too_many_attempts");
  assert.match(message, /Too many registers from your address at once; retry in 1 s/);
  assert.equal(
    (attempt("192.0.2.10", "other", "school").take()[0] as OscMessage).address,
    "/oscrouter/register/other/0",
  );
  clock.now += 100;
  assert.equal((attempt("192.0.2.9", "m41", "school").take()[0] as OscMessage).address, "/oscrouter/register/m41/0");
});

const declared = (over: Partial<{ usersOnly: boolean; users: [string, string][] }> = {}): GroupsConfig => ({
  groups: new Map([["band", {
    name: "band",
    password: fakeHash("gpw"),
    usersOnly: over.usersOnly ?? false,
    users: new Map((over.users ?? [["conductor", "cpw"]]).map(([u, p]) => [u, fakeHash(p)])),
  }]]),
});

Deno.test("declared group: nobody can create it with another password, whoever comes first", async () => {
  const { router, attempt, settle, checks, tick } = setup({ groups: declared() });
  const squatter = attempt("203.0.113.5", "eve", "band", "x", "squat");
  assert.deepEqual(squatter.take(), [], "nothing is sent before the check ends");
  assert.equal(router.pendingRegisters, 1);
  await settle();
  assert.equal(code(squatter), "wrong_group_password");
  assert.equal(router.groupCount, 0, "the squatter did not create the group");
  const ana = attempt("198.51.100.1", "ana", "band");
  await tick();
  assert.equal(checks.length, 1);
  await settle();
  assert.deepEqual(ana.addresses(), ["/oscrouter/register/ana/0", "/oscrouter/userlist"]);
  const bob = attempt("198.51.100.2", "bob", "band");
  await tick();
  assert.equal(checks.length, 0, "a password that matched before is not hashed again");
  assert.deepEqual(bob.addresses(), ["/oscrouter/register/bob/0", "/oscrouter/userlist"]);
  // An undeclared group stays first come, first served.
  assert.equal((attempt("203.0.113.5", "eve", "eves").take()[0] as OscMessage).address, "/oscrouter/register/eve/0");
});

Deno.test("declared users: only the declared password logs in as them; users_only refuses the rest", async () => {
  const { router, attempt, settle } = setup({ groups: declared({ usersOnly: true }) });
  const wrong = attempt("203.0.113.5", "conductor", "band", "guess", "gpw");
  await settle();
  const [c, message] = errorOf(wrong.take()[0]!);
  assert.equal(c, "wrong_user_password");
  assert.doesNotMatch(message, /guess|cpw|gpw/, "no password in the message");
  const stranger = attempt("203.0.113.6", "stranger", "band", "upw", "gpw");
  await settle();
  assert.equal(code(stranger), "wrong_user_password");
  const conductor = attempt("198.51.100.1", "conductor", "band", "cpw", "gpw");
  await settle();
  assert.equal((conductor.take()[0] as OscMessage).address, "/oscrouter/register/conductor/0");
  router.setGroups(declared({ usersOnly: false }));
  const guest = attempt("198.51.100.2", "guest", "band", "anything", "gpw");
  assert.equal((guest.take()[0] as OscMessage).address, "/oscrouter/register/guest/0", "users_only lifted on reload");
});

Deno.test("declared: the group and a user with the same hash line: each password is checked on its own", async () => {
  const config = declared({ users: [["conductor", "gpw"]] }); // the operator pasted the group's line for the user
  const { attempt, settle } = setup({ groups: config });
  const wrong = attempt("203.0.113.5", "conductor", "band", "guess", "gpw");
  await settle();
  assert.equal(code(wrong), "wrong_user_password", "the group's right answer does not stand for the user's");
  const right = attempt("198.51.100.1", "conductor", "band", "gpw", "gpw");
  await settle();
  assert.equal((right.take()[0] as OscMessage).address, "/oscrouter/register/conductor/0");
});

Deno.test("closed: an undeclared group is unknown_group and counts as a failure", async () => {
  const { attempt, settle } = setup({ groups: declared(), closed: true });
  for (let i = 0; i < 5; i++) {
    const [c, message] = errorOf(attempt("203.0.113.5", "eve", `guess${i}`).take()[0]!);
    assert.equal(c, "unknown_group");
    assert.match(message, /not one of this router's groups/);
  }
  assert.equal(code(attempt("203.0.113.5", "eve", "band")), "too_many_attempts");
  const ana = attempt("198.51.100.1", "ana", "band");
  await settle();
  assert.equal((ana.take()[0] as OscMessage).address, "/oscrouter/register/ana/0");
});

Deno.test("declared: packets sent while the password is checked are kept and delivered in order", async () => {
  const { router, attempt, settle } = setup({ groups: declared() });
  const ana = attempt("198.51.100.1", "ana", "band");
  await settle();
  ana.take();
  const bob = attempt("198.51.100.2", "bob", "band", "upw", "gpw"); // remembered: joins at once
  bob.take();
  ana.take();
  router.setGroups({ groups: new Map([["band", { ...declared().groups.get("band")!, password: fakeHash("new") }]]) });
  const cy = attempt("198.51.100.3", "cy", "band", "upw", "new");
  router.receive(cy, msg("/note", { type: "i", value: 1 }));
  router.receive(cy, msg("/note", { type: "i", value: 2 }));
  assert.deepEqual(bob.take(), [], "nothing forwarded before cy is registered");
  await settle();
  assert.deepEqual(cy.addresses(), ["/oscrouter/register/cy/0", "/oscrouter/userlist"]);
  assert.deepEqual(bob.take().map((p) => (p as OscMessage).address), ["/oscrouter/userlist", "/note", "/note"]);
  assert.ok(router.isRegistered(ana) && router.isRegistered(bob), "members stay after the password changed");
  const late = attempt("198.51.100.4", "dan", "band", "upw", "gpw");
  await settle();
  assert.equal(code(late), "wrong_group_password", "the old password no longer opens the group");
});

Deno.test("declared: a connection that closes while its password is checked leaves no trace", async () => {
  const { router, attempt, settle } = setup({ groups: declared() });
  const ana = attempt("198.51.100.1", "ana", "band");
  router.leave(ana);
  await settle();
  assert.deepEqual(ana.take(), []);
  assert.equal(router.groupCount, 0);
  assert.equal(router.pendingRegisters, 0);
});

Deno.test("declared: one address cannot queue many checks; the check is bounded overall", async () => {
  const { attempt, settle } = setup({ groups: declared() });
  const eves = Array.from({ length: 6 }, (_, i) => attempt("203.0.113.5", `eve${i}`, "band", "x", `g${i}`));
  assert.deepEqual(eves.slice(4).map(code), ["too_many_attempts", "too_many_attempts"], "4 checks per address");
  await settle();
  const second = setup({ groups: declared(), verifier: { maxWaitingAddresses: 1, concurrency: 1 } });
  second.attempt("203.0.113.1", "a", "band", "x", "g1");
  second.attempt("203.0.113.2", "b", "band", "x", "g2");
  assert.equal(code(second.attempt("203.0.113.3", "c", "band", "x", "g3")), "server_busy");
  await second.settle();
});

// ---- user lists

function listSetup(options: RouterOptions = {}) {
  const clock = { now: 1_000_000 };
  const wakes: number[] = [];
  const router = new Router({ now: () => clock.now, onUserListsPending: (ms) => wakes.push(ms), ...options });
  const join = (name: string, address = `10.0.0.${name.length}`) => {
    const s = new FakeSession(name, "length-prefix", address);
    router.receive(s, register(name, "band"));
    return s;
  };
  return { router, clock, wakes, join };
}

const lists = (s: FakeSession) =>
  s.take().filter((p) => (p as OscMessage).address === "/oscrouter/userlist").map((p) =>
    (p as OscMessage).args.map((a) => (a as { value: string }).value)
  );

Deno.test("user lists: a single join goes out at once; churn within 100 ms waits; the last list always goes out", () => {
  const { router, clock, wakes, join } = listSetup();
  const ana = join("ana");
  assert.deepEqual(ana.addresses(), ["/oscrouter/register/ana/0", "/oscrouter/userlist"]);
  clock.now += 1000;
  const bob = join("bob");
  assert.deepEqual(bob.addresses(), ["/oscrouter/register/bob/0", "/oscrouter/userlist"], "reply, then list");
  assert.deepEqual(lists(ana), [["ana", "bob"]], "a single join: at once (leading edge)");
  assert.deepEqual(wakes, []);
  clock.now += 10;
  const cy = join("cy");
  assert.deepEqual(
    cy.addresses(),
    ["/oscrouter/register/cy/0", "/oscrouter/userlist"],
    "the newcomer still gets its list",
  );
  router.leave(cy);
  const dan = join("dan");
  assert.deepEqual(lists(dan), [["ana", "bob", "dan"]]);
  assert.deepEqual(lists(ana), [], "the others wait");
  assert.deepEqual(wakes, [90], "the host is asked to flush when the gap ends");
  router.flushUserLists();
  assert.deepEqual(lists(ana), [], "not before the gap");
  clock.now += 90;
  router.flushUserLists();
  assert.deepEqual(lists(ana), [["ana", "bob", "dan"]], "the last list, once");
  assert.deepEqual(lists(bob), [["ana", "bob", "dan"]]);
  assert.deepEqual(lists(dan), [], "dan has it already: no duplicate");
});

Deno.test("user lists: without a host timer, every change goes out at once (as before)", () => {
  const router = new Router();
  const a = new FakeSession("a"), b = new FakeSession("b");
  router.receive(a, register("ana"));
  router.receive(b, register("bob"));
  router.leave(b);
  router.receive(b, register("bob"));
  assert.deepEqual(lists(a), [["ana"], ["ana", "bob"], ["ana"], ["ana", "bob"]]);
});

Deno.test("user lists: an emptied group's pending list is dropped", () => {
  const { router, clock, join } = listSetup();
  const ana = join("ana");
  const bob = join("bob");
  router.leave(bob);
  router.leave(ana);
  clock.now += 1000;
  router.flushUserLists();
  assert.equal(router.groupCount, 0);
});

/** 250 members with 256-byte names; an attacker joins and leaves `cycles` times, 10 registers/s. */
function churn(coalesce: boolean, cycles: number): { bytesOut: number; lastListOk: boolean } {
  const clock = { now: 0 };
  let wakeAt: number | undefined;
  const router = new Router({
    now: () => clock.now,
    ...(coalesce ? { onUserListsPending: (ms: number) => wakeAt = Math.min(wakeAt ?? Infinity, clock.now + ms) } : {}),
  });
  const members: FakeSession[] = [];
  for (let i = 0; i < 250; i++) {
    const s = new FakeSession(`m${i}`, "length-prefix", `10.0.${i >> 8}.${i & 255}`);
    router.receive(s, register(String(i).padStart(256, "x"), "band"));
    members.push(s);
  }
  clock.now += 10_000;
  for (const s of members) s.received.length = 0;
  const before = router.counters.bytesOut;
  const advance = (ms: number) => {
    const end = clock.now + ms;
    while (wakeAt !== undefined && wakeAt <= end) {
      clock.now = wakeAt;
      wakeAt = undefined;
      router.flushUserLists();
    }
    clock.now = end;
  };
  for (let i = 0; i < cycles; i++) {
    const eve = new FakeSession("eve", "length-prefix", "203.0.113.5");
    router.receive(eve, register(`e${i}`.padStart(256, "e"), "band"));
    router.leave(eve);
    advance(100);
  }
  advance(10_000);
  const last = members[0]!.received.at(-1)!;
  const names = (last && decode.decode(last).match(/x+\d+/g)) ?? [];
  return { bytesOut: router.counters.bytesOut - before, lastListOk: names.length === 250 };
}

Deno.test("user lists: churn in a 250-member group with 256-byte names, bytes out before and after", () => {
  const cycles = 100; // 10 s of churn at the register rate limit (10/s)
  const before = churn(false, cycles);
  const after = churn(true, cycles);
  const sentByAttacker = cycles * register("e".repeat(256), "band").length;
  console.log(
    `churn ${cycles} join+leave: attacker sent ${sentByAttacker} B; user lists out: ` +
      `${(before.bytesOut / 1e6).toFixed(1)} MB at once, ${(after.bytesOut / 1e6).toFixed(1)} MB coalesced`,
  );
  assert.ok(before.lastListOk && after.lastListOk, "everyone ends with the true list");
  assert.ok(after.bytesOut * 10 < before.bytesOut, `${after.bytesOut} vs ${before.bytesOut}`);
});

Deno.test("declared group: packets sent while the password is checked are kept as copies, not views of the read buffer", async () => {
  const { router, attempt, settle } = setup({ groups: declared() });
  const ana = attempt("198.51.100.1", "ana", "band");
  await settle();
  ana.take();
  const conductor = attempt("198.51.100.2", "conductor", "band", "cpw");
  assert.equal(router.pendingRegisters, 1);
  // Two packets, each handed over as a view of one reused read buffer that the next read overwrites.
  const sent = [msg("/cue", { type: "i", value: 1 }), msg("/cue", { type: "i", value: 2 })];
  const readBuffer = new Uint8Array(64);
  for (const packet of sent) {
    readBuffer.set(packet);
    router.receive(conductor, readBuffer.subarray(0, packet.length));
    readBuffer.fill(0xee);
  }
  await settle();
  assert.equal((conductor.take()[0] as OscMessage).address, "/oscrouter/register/conductor/0");
  const cues = ana.received.filter((p) => p.length === sent[0]!.length);
  assert.deepEqual(cues.map((p) => Array.from(p)), sent.map((p) => Array.from(p)), "the packets as they were sent");
});
