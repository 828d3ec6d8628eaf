import assert from "node:assert/strict";
import { encodeBundle, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { Router } from "../../lib/router/router.ts";
import { errorOf, FakeSession, msg, register, s } from "./fake_session.ts";

function setup() {
  const router = new Router();
  const join = (name: string, user = name, group = "band") => {
    const session = new FakeSession(name);
    router.receive(session, register(user, group));
    session.take();
    return session;
  };
  return { router, join };
}

const userlist = (p: unknown) => {
  const m = p as OscMessage;
  assert.equal(m.address, "/oscrouter/userlist");
  return m.args.map((a) => (a as { value: string }).value);
};

Deno.test("register: replies /oscrouter/register/<user>/<id>, then the user list", () => {
  const router = new Router();
  const a = new FakeSession("a");
  router.receive(a, register("ana", "band", { type: "i", value: 123456 }));
  const [reply, list] = a.take();
  assert.deepEqual(reply, { address: "/oscrouter/register/ana/123456", args: [] });
  assert.deepEqual(userlist(list), ["ana"]);
  assert.equal(a.closed, undefined);
  assert.ok(router.isRegistered(a));
});

Deno.test("register: the id is echoed as text whatever its type; absent is 0", () => {
  const cases: [Parameters<typeof register>[2], string][] = [
    [undefined, "0"],
    [{ type: "i", value: -5 }, "-5"],
    [{ type: "h", value: 9007199254740993n }, "9007199254740993"],
    [{ type: "f", value: 3 }, "3"],
    [{ type: "f", value: Math.fround(2.5) }, "2.5"],
    [{ type: "d", value: 7 }, "7"],
    [{ type: "s", value: "x y" }, "x y"],
    [{ type: "S", value: "sym" }, "sym"],
  ];
  for (const [id, text] of cases) {
    const router = new Router();
    const session = new FakeSession("x");
    router.receive(session, register("ana", "band", id));
    assert.equal((session.take()[0] as OscMessage).address, `/oscrouter/register/ana/${text}`);
  }
});

Deno.test("register: Pd style, S strings and f numbers taken as decimal text", () => {
  const router = new Router();
  const pd = new FakeSession("pd", "slip");
  router.receive(
    pd,
    encodeMessage({
      address: "/oscrouter/register",
      args: [{ type: "f", value: 42 }, { type: "f", value: 1234 }, { type: "S", value: "band" }, {
        type: "f",
        value: 0,
      }],
    }),
  );
  assert.equal((pd.take()[0] as OscMessage).address, "/oscrouter/register/42/0");
  const sc = new FakeSession("sc");
  router.receive(sc, register("sc", "band", undefined, "upw", "0"));
  assert.deepEqual(userlist(sc.take()[1]), ["42", "sc"], "group password f 0 equals string '0'");
});

Deno.test("register: a new user's arrival sends the list to every connection of the group, in join order", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = new FakeSession("bob");
  router.receive(b, register("bob"));
  assert.deepEqual(userlist(a.take()[0]), ["ana", "bob"]);
  assert.deepEqual(b.addresses(), ["/oscrouter/register/bob/0", "/oscrouter/userlist"]);
});

Deno.test("register: wrong group password is refused and closed, without echoing passwords", () => {
  const { router, join } = setup();
  join("ana");
  const eve = new FakeSession("eve");
  router.receive(eve, register("eve", "band", undefined, "secret-user", "secret-guess"));
  const [code, message, context] = errorOf(eve.take()[0]!);
  assert.equal(code, "wrong_group_password");
  assert.equal(context, "/oscrouter/register");
  assert.ok(!message.includes("secret"), message);
  assert.equal(eve.closed, "wrong_group_password");
  assert.ok(!router.isRegistered(eve));
});

Deno.test("register: wrong user password is refused and closed; the rightful user is untouched", () => {
  const { router, join } = setup();
  const a = join("ana");
  const eve = new FakeSession("eve");
  router.receive(eve, register("ana", "band", undefined, "guess"));
  const [code, message] = errorOf(eve.take()[0]!);
  assert.equal(code, "wrong_user_password");
  assert.match(message, /choose another user name/);
  assert.ok(!message.includes("guess"));
  assert.equal(eve.closed, "wrong_user_password");
  assert.deepEqual(a.take(), [], "no user list change for a refused register");
  assert.deepEqual(router.snapshot(), [{ name: "band", users: ["ana"] }]);
});

Deno.test("register: names of 1 to 256 bytes without control characters; spaces and / allowed", () => {
  const good = ["a", "Ana María", "a/b", "x".repeat(256), "é".repeat(128)];
  for (const name of good) {
    const router = new Router();
    const session = new FakeSession(name);
    router.receive(session, register(name));
    assert.equal((session.take()[0] as OscMessage).address, `/oscrouter/register/${name}/0`);
  }
  for (const [user, group] of [["", "band"], ["x".repeat(257), "band"], ["a\nb", "band"], ["ana", ""], ["a", "\t"]]) {
    const router = new Router();
    const session = new FakeSession("x");
    router.receive(session, register(user!, group));
    assert.equal(errorOf(session.take()[0]!)[0], "invalid_name", JSON.stringify([user, group]));
    assert.equal(session.closed, "invalid_name");
    assert.equal(router.groupCount, 0, "no ghost group or user");
  }
});

Deno.test("register: malformed registers get bad_register and a close", () => {
  const bad = [
    msg("/oscrouter/register", s("a"), s("b"), s("c")),
    msg("/oscrouter/register", s("a"), { type: "b", value: new Uint8Array(1) }, s("c"), s("d")),
    msg("/oscrouter/register", s("a"), s("b"), s("c"), s("d"), { type: "T" }),
    msg("/oscrouter/register", s("a"), s("x".repeat(257)), s("c"), s("d")),
  ];
  for (const packet of bad) {
    const router = new Router();
    const session = new FakeSession("x");
    router.receive(session, packet);
    assert.equal(errorOf(session.take()[0]!)[0], "bad_register");
    assert.equal(session.closed, "bad_register");
  }
});

Deno.test("register: the first packet must be a register; anything else is refused and closed", () => {
  for (const packet of [msg("/note"), msg("/oscrouter/ping", s("ana")), encodeBundle({ timetag: 1n, elements: [] })]) {
    const router = new Router();
    const session = new FakeSession("x");
    router.receive(session, packet);
    assert.equal(errorOf(session.take()[0]!)[0], "not_registered");
    assert.equal(session.closed, "not_registered");
    router.receive(session, register("ana"));
    assert.deepEqual(session.take(), [], "packets after a refusal are ignored");
  }
  const router = new Router();
  const session = new FakeSession("x");
  router.receive(session, new Uint8Array([1, 2, 3, 4]));
  assert.equal(errorOf(session.take()[0]!)[0], "malformed_packet");
  assert.equal(session.closed, "malformed_packet");
});

Deno.test("register: as the first message of a bundle; the bundle's other messages are then handled", () => {
  const { router, join } = setup();
  const bob = join("bob");
  const ana = new FakeSession("ana");
  router.receive(
    ana,
    encodeBundle({
      timetag: 1n,
      elements: [
        { address: "/oscrouter/register", args: [s("ana"), s("p"), s("band"), s("gpw")] },
        { address: "/hello", args: [] },
      ],
    }),
  );
  assert.deepEqual(ana.addresses(), ["/oscrouter/register/ana/0", "/oscrouter/userlist"]);
  assert.deepEqual(bob.addresses(), ["/oscrouter/userlist", "/hello"]);
  const late = new FakeSession("late");
  router.receive(
    late,
    encodeBundle({
      timetag: 1n,
      elements: [{ address: "/x", args: [] }, {
        address: "/oscrouter/register",
        args: [s("c"), s("p"), s("band"), s("gpw")],
      }],
    }),
  );
  assert.equal(errorOf(late.take()[0]!)[0], "not_registered");
});

Deno.test("register: again on a registered connection is an error, never forwarded, connection kept", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = join("bob");
  a.take();
  router.receive(a, register("ana"));
  assert.equal(errorOf(a.take()[0]!)[0], "already_registered");
  assert.equal(a.closed, undefined);
  assert.deepEqual(b.take(), []);
});

Deno.test("broadcast: to every connection of every other user, byte-for-byte, in order, never to oneself", () => {
  const { router, join } = setup();
  const a1 = join("a1", "ana");
  const a2 = join("a2", "ana");
  const b1 = join("b1", "bob");
  const b2 = join("b2", "bob");
  const c = join("c", "cid");
  const other = join("o", "oz", "elsewhere");
  for (const x of [a1, a2, b1, b2, c]) x.take();
  const packets = [
    msg("/n", { type: "i", value: 1 }),
    msg("/n", { type: "i", value: 2 }),
    msg("/n", { type: "d", value: NaN }),
  ];
  for (const p of packets) router.receive(a1, p);
  for (const x of [b1, b2, c]) {
    assert.equal(x.received.length, 3);
    x.received.forEach((got, i) => assert.equal(got, packets[i], "the sender's own bytes"));
  }
  assert.deepEqual(a1.received, []);
  assert.deepEqual(a2.received, [], "not to the sender's own user");
  assert.deepEqual(other.received, [], "not to another group");
});

Deno.test("bundles without control messages go out intact; timetags are not waited for", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = join("bob");
  a.take();
  const future = encodeBundle({ timetag: 0xffffffff00000000n, elements: [{ address: "/x", args: [] }] });
  router.receive(a, future);
  assert.equal(b.received.at(-1), future);
});

Deno.test("bundles with a control message are opened; messages handled one by one, depth-first", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = join("bob");
  a.take();
  b.take();
  router.receive(
    a,
    encodeBundle({
      timetag: 1n,
      elements: [
        { address: "/1", args: [] },
        { timetag: 1n, elements: [{ address: "/oscrouter/ping", args: [] }, { address: "/2", args: [] }] },
        { address: "/oscrouter/private", args: [s("bob"), s("whispa")] },
        { address: "/3", args: [] },
      ],
    }),
  );
  assert.deepEqual(b.addresses(), ["/1", "/2", "/oscrouter/private", "/3"]);
  assert.deepEqual(a.take(), []);
});

Deno.test("multi-connection user: a new connection gets the reply and the list, nobody else is told", () => {
  const { router, join } = setup();
  const a1 = join("a1", "ana");
  const b = join("bob");
  a1.take();
  const a2 = new FakeSession("a2");
  router.receive(a2, register("ana"));
  assert.deepEqual(a2.addresses(), ["/oscrouter/register/ana/0", "/oscrouter/userlist"]);
  assert.deepEqual(a1.take(), []);
  assert.deepEqual(b.take(), []);
  router.receive(b, msg("/x"));
  assert.equal(a1.received.length, 1);
  assert.equal(a2.received.length, 1);
});

Deno.test("leave: the last connection removes the user, the others get the new list; empty groups go", () => {
  const { router, join } = setup();
  const a1 = join("a1", "ana");
  const a2 = join("a2", "ana");
  const b = join("bob");
  a1.take();
  a2.take();
  router.leave(a1);
  assert.deepEqual(b.take(), [], "ana still has a connection");
  router.leave(a2);
  assert.deepEqual(userlist(b.take()[0]), ["bob"]);
  assert.equal(router.userCount, 1);
  router.leave(b);
  assert.equal(router.groupCount, 0);
  assert.equal(router.sessionCount, 0);
  // The names and passwords are free again.
  const again = new FakeSession("again");
  router.receive(again, register("ana", "band", undefined, "new", "new-group-pw"));
  assert.equal((again.take()[0] as OscMessage).address, "/oscrouter/register/ana/0");
});

Deno.test("private: rewritten with the sender's name, to every connection of the target", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b1 = join("b1", "bob");
  const b2 = join("b2", "bob");
  const c = join("cid");
  for (const x of [a, b1, b2, c]) x.take();
  router.receive(a, msg("/oscrouter/private", s("bob"), s("whispa"), { type: "i", value: 5 }));
  const expected = { address: "/oscrouter/private", args: [s("ana"), s("whispa"), { type: "i", value: 5 }] };
  assert.deepEqual(b1.take(), [expected]);
  assert.deepEqual(b2.take(), [expected]);
  assert.deepEqual(c.take(), []);
  assert.deepEqual(a.take(), []);
});

Deno.test("private: to oneself reaches all of one's connections; unknown target is an error", () => {
  const { router, join } = setup();
  const a1 = join("a1", "ana");
  const a2 = join("a2", "ana");
  a1.take();
  router.receive(a1, msg("/oscrouter/private", s("ana"), s("key")));
  assert.equal(a1.take().length, 1);
  assert.equal(a2.take().length, 1);
  router.receive(a1, msg("/oscrouter/private", s("zed"), s("key")));
  const [code, , context] = errorOf(a1.take()[0]!);
  assert.equal(code, "unknown_user");
  assert.equal(context, "/oscrouter/private");
  router.receive(a1, msg("/oscrouter/private", s("ana")));
  assert.equal(errorOf(a1.take()[0]!)[0], "malformed_packet");
  assert.equal(a1.closed, undefined);
});

Deno.test("ping: not forwarded, no reply", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = join("bob");
  a.take();
  router.receive(a, msg("/oscrouter/ping", s("ana")));
  assert.deepEqual(a.take(), []);
  assert.deepEqual(b.take(), []);
});

Deno.test("reserved: other /oscrouter/ addresses are refused with reserved_address, never forwarded", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = join("bob");
  a.take();
  for (const address of ["/oscrouter/userlist", "/oscrouter/error", "/oscrouter", "/oscrouter/register/ana/1"]) {
    router.receive(a, msg(address, s("spoof")));
    const [code, , context] = errorOf(a.take()[0]!);
    assert.equal(code, "reserved_address");
    assert.equal(context, address);
  }
  assert.deepEqual(b.take(), []);
  assert.equal(a.closed, undefined);
});

Deno.test("malformed packets from a registered client: error, not forwarded, connection kept", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = join("bob");
  a.take();
  const bad = new TextEncoder().encode("/bad\0\0\0\0,i\0\0"); // truncated int
  router.receive(a, bad);
  const [code, message, context] = errorOf(a.take()[0]!);
  assert.equal(code, "malformed_packet");
  assert.match(message, /truncated argument 'i'/);
  assert.equal(context, "/bad");
  assert.deepEqual(b.take(), []);
  assert.equal(a.closed, undefined);
  router.receive(a, msg("/ok"));
  assert.equal(b.take().length, 1);
});

Deno.test("expire: an unregistered session gets not_registered and is closed; a registered one is kept", () => {
  const { router, join } = setup();
  const idle = new FakeSession("idle");
  router.expire(idle, 60);
  const [code, message] = errorOf(idle.take()[0]!);
  assert.equal(code, "not_registered");
  assert.match(message, /60 s/);
  assert.equal(idle.closed, "not_registered");
  const a = join("ana");
  router.expire(a, 60);
  assert.equal(a.closed, undefined);
});

Deno.test("counters: packets in and out, errors by code", () => {
  const { router, join } = setup();
  const a = join("ana");
  join("bob");
  join("cid");
  a.take();
  const before = router.counters.packetsOut;
  router.receive(a, msg("/x"));
  assert.equal(router.counters.packetsOut - before, 2);
  router.receive(a, msg("/oscrouter/nope"));
  assert.equal(router.counters.errors.reserved_address, 1);
});

/** A register whose strings are patched: every byte 0x01 in the encoded packet becomes `byte`. */
function registerWithByte(user: string, userPw: string, byte: number, group = "band"): Uint8Array {
  const packet = register(user, group, undefined, userPw);
  return packet.map((b) => b === 0x01 ? byte : b);
}

Deno.test("register: passwords are bytes, any content, even not UTF-8 (Latin-1 from an old client)", () => {
  const { router, join } = setup();
  const b = join("bob");
  const a = new FakeSession("a");
  router.receive(a, registerWithByte("ana", "caf\x01", 0xe9)); // "café" in Latin-1
  assert.equal((a.take()[0] as OscMessage).address, "/oscrouter/register/ana/0");
  b.take();
  const again = new FakeSession("again");
  router.receive(again, registerWithByte("ana", "caf\x01", 0xe9));
  assert.equal((again.take()[0] as OscMessage).address, "/oscrouter/register/ana/0", "the same bytes match");
  const other = new FakeSession("other");
  router.receive(other, registerWithByte("ana", "caf\x01", 0xe8));
  assert.equal(errorOf(other.take()[0]!)[0], "wrong_user_password", "other bytes do not");
  const utf8 = new FakeSession("utf8");
  router.receive(utf8, register("ana", "band", undefined, "café"));
  assert.equal(errorOf(utf8.take()[0]!)[0], "wrong_user_password", "nor does the UTF-8 spelling");
});

Deno.test("register: a user name that is not valid UTF-8 is invalid_name", () => {
  const router = new Router();
  const session = new FakeSession("x");
  router.receive(session, registerWithByte("an\x01", "pw", 0xff));
  const [code, message] = errorOf(session.take()[0]!);
  assert.equal(code, "invalid_name");
  assert.match(message, /not valid UTF-8/);
  assert.equal(session.closed, "invalid_name");
});

Deno.test("private: a payload that is not UTF-8 is delivered byte for byte", () => {
  const { router, join } = setup();
  const a = join("ana");
  const b = join("bob");
  a.take();
  const sent = msg("/oscrouter/private", s("bob"), s("k\x01y"), s("v\x01")).map((x) => x === 0x01 ? 0xfe : x);
  router.receive(a, sent);
  const got = b.received[0]!;
  const expected = msg("/oscrouter/private", s("ana"), s("k\x01y"), s("v\x01")).map((x) => x === 0x01 ? 0xfe : x);
  assert.deepEqual([...got], [...expected]);
});
