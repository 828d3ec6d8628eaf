/**
 * Control messages are read only as far as the router needs (issue 10), and the private-message
 * rewrite: numeric targets, sender names of every padding, payloads kept byte for byte.
 */
import assert from "node:assert/strict";
import { decodePacket, encodeBundle, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscArg, OscMessage } from "../../lib/osc/types.ts";
import { rewritePrivate } from "../../lib/router/private_message.ts";
import { Router } from "../../lib/router/router.ts";
import { bigBundle, bigMessage } from "../../bench/packets.ts";
import { hex, toHex } from "../hex.ts";
import { errorOf, FakeSession, msg, register, s } from "./fake_session.ts";

function setup() {
  const router = new Router();
  const join = (name: string, user = name) => {
    const session = new FakeSession(name);
    router.receive(session, register(user));
    return session;
  };
  const a = join("ana"), b = join("bob");
  a.take();
  b.take();
  return { router, a, b, join };
}

const MIB = 1024 * 1024;

Deno.test("private: a Pd float target is matched as text and the sender's tag becomes 's'", () => {
  const { router, a, join } = setup();
  const pd = join("12");
  a.take();
  pd.take();
  const f: OscArg = { type: "f", value: 12 };
  const sent = msg("/oscrouter/private", f, s("key"), { type: "f", value: 0.5 });
  router.receive(a, sent);
  const got = pd.received[0]!;
  assert.equal(toHex(got.subarray(20, 24)), toHex(hex("2c 73 73 66")), "type tags ,ssf: the f became s");
  assert.deepEqual(decodePacket(got), {
    address: "/oscrouter/private",
    args: [s("ana"), s("key"), { type: "f", value: 0.5 }],
  });
  pd.take();
  // The other numeric targets too; an S target stays S.
  for (const target of [{ type: "i", value: 12 }, { type: "h", value: 12n }, { type: "d", value: 12 }] as OscArg[]) {
    router.receive(a, msg("/oscrouter/private", target, s("k")));
    assert.deepEqual(pd.take(), [{ address: "/oscrouter/private", args: [s("ana"), s("k")] }], target.type);
  }
  router.receive(a, msg("/oscrouter/private", { type: "S", value: "12" }, s("k")));
  assert.deepEqual(pd.take(), [{ address: "/oscrouter/private", args: [{ type: "S", value: "ana" }, s("k")] }]);
});

Deno.test("rewritePrivate: the sender's name is padded right for names of 1 to 8 bytes", () => {
  for (const targetLength of [1, 3, 4, 7]) {
    const sent = msg("/oscrouter/private", s("t".repeat(targetLength)), s("key"), { type: "i", value: 7 });
    for (let length = 1; length <= 8; length++) {
      const name = "abcdefgh".slice(0, length);
      const out = rewritePrivate(sent, name);
      const expected = msg("/oscrouter/private", s(name), s("key"), { type: "i", value: 7 });
      assert.equal(toHex(out), toHex(expected), `name of ${length} bytes, target of ${targetLength}`);
    }
  }
});

Deno.test("private: a first argument that is not text, or no key, is malformed_packet", () => {
  const { router, a, b } = setup();
  for (
    const args of [
      [{ type: "T" }, s("k")],
      [{ type: "b", value: new Uint8Array(3) }, s("k")],
      [{ type: "[", value: [s("bob")] }, s("k")],
      [s("bob")],
      [],
    ] as OscArg[][]
  ) {
    router.receive(a, encodeMessage({ address: "/oscrouter/private", args }));
    assert.equal(errorOf(a.take()[0]!)[0], "malformed_packet", JSON.stringify(args.map((x) => x.type)));
  }
  assert.deepEqual(b.take(), []);
  assert.equal(a.closed, undefined);
});

Deno.test("the 16-byte blob-wrap packet gets malformed_packet, registered or not, and is not forwarded", () => {
  const crash = hex("2f 61 00 00 2c 62 73 69 68 00 00 00 7f ff ff fd");
  const { router, a, b } = setup();
  router.receive(a, crash);
  assert.equal(errorOf(a.take()[0]!)[0], "malformed_packet");
  assert.deepEqual(b.received, []);
  const stranger = new FakeSession("stranger");
  router.receive(stranger, crash);
  assert.equal(errorOf(stranger.take()[0]!)[0], "malformed_packet");
  assert.equal(stranger.closed, "malformed_packet");
  // As a control message, in a bundle, and as a private message's payload.
  const controlCrash = hex(
    "2f 6f 73 63 72 6f 75 74 65 72 2f 70 72 69 76 61 74 65 00 00 2c 62 73 69 68 00 00 00 7f ff ff fd",
  );
  router.receive(a, controlCrash);
  assert.equal(errorOf(a.take()[0]!)[0], "malformed_packet");
  // This one made the old decoder throw a RangeError out of Router.receive.
  const rangeError = hex("2f 6f 73 63 72 6f 75 74 65 72 2f 78 00 00 00 00 2c 62 69 73 69 68 00 00 7f ff ff fd");
  router.receive(a, rangeError);
  assert.equal(errorOf(a.take()[0]!)[0], "malformed_packet");
  const bundle = encodeBundle({ timetag: 1n, elements: [{ address: "/x", args: [] }] });
  const inBundle = new Uint8Array([...bundle.subarray(0, 16), 0, 0, 0, 16, ...crash]);
  router.receive(a, inBundle);
  assert.equal(errorOf(a.take()[0]!)[0], "malformed_packet");
  assert.deepEqual(b.received, []);
});

Deno.test("control messages: an 8 MiB ping of type tags, a bundle of pings and a big private cost little", () => {
  const { router, a, b } = setup();
  const cases = [
    bigMessage("/oscrouter/ping", "", "T", 8 * MIB),
    bigBundle("/oscrouter/ping", 8 * MIB),
    bigMessage("/oscrouter/private", "ss", "i", 8 * MIB),
  ];
  for (const packet of cases) {
    const started = performance.now();
    router.receive(a, packet);
    const ms = performance.now() - started;
    // Decoding every argument took over 1 s for the first on this machine; reading the head, ~50 ms.
    assert.ok(ms < 700, `${ms.toFixed(0)} ms for ${packet.length} bytes`);
  }
  // The bundle of pings holds over 256 messages: refused whole, with one reply; pings get none.
  assert.deepEqual(a.take().map((p) => errorOf(p)[0]), ["malformed_packet"]);
  assert.equal(b.received.length, 1, "the private message reached bob");
  const got = b.received[0]!;
  const sent = cases[2]!;
  // Only the target changed ("bob" -> "ana", same length): the rest is the sent bytes.
  assert.equal(got.length, sent.length);
  const at = sent.indexOf(0x62, 20); // "bob" after the type tags
  assert.deepEqual([...got.subarray(at, at + 3)], [0x61, 0x6e, 0x61]);
  assert.ok(got.subarray(at + 4).every((x, i) => x === sent[at + 4 + i]));
});

Deno.test("register: arguments after the fifth are never read, whatever they are", () => {
  const router = new Router();
  const session = new FakeSession("a");
  const args: OscArg[] = [s("ana"), s("pw"), s("band"), s("gpw"), { type: "i", value: 7 }];
  // A sixth argument that is a deep array of four million tags, and invalid UTF-8 after it.
  const tail = "[".repeat(30) + "T".repeat(4_000_000) + "]".repeat(30);
  const head = encodeMessage({ address: "/oscrouter/register", args });
  const tagsAt = 20, dataAt = head.indexOf(0, tagsAt) + 4 - (head.indexOf(0, tagsAt) % 4);
  const tags = new TextEncoder().encode(",ssssi" + tail);
  const tagBytes = tags.length + 4 - (tags.length % 4);
  const packet = new Uint8Array(tagsAt + tagBytes + head.length - dataAt);
  packet.set(head.subarray(0, tagsAt));
  packet.set(tags, tagsAt);
  packet.set(head.subarray(dataAt), tagsAt + tagBytes);
  const started = performance.now();
  router.receive(session, packet);
  assert.ok(performance.now() - started < 500);
  const reply = session.take()[0] as OscMessage;
  assert.equal(reply.address, "/oscrouter/register/ana/7");
});

Deno.test("a bundle of bad control messages: one reply per error code, and it costs little", () => {
  const { router, a, b } = setup();
  // 1 MiB of reserved addresses, then of private messages without a key: each used to build its own reply (seconds);
  // over 256 messages, such a bundle is now refused whole with one reply.
  for (const address of ["/oscrouter/nope", "/oscrouter/private"]) {
    const bundle = bigBundle(address, MIB);
    const started = performance.now();
    router.receive(a, bundle);
    const ms = performance.now() - started;
    assert.ok(ms < 700, `${ms.toFixed(0)} ms`);
    const replies = a.take().map((p) => errorOf(p));
    assert.deepEqual(replies.map(([code]) => code), ["malformed_packet"]);
    assert.match(replies[0]![1], /at most 256 messages/);
  }
  // At the limit, the bundle is opened: 256 bad messages of one kind, one reply.
  for (const [address, code] of [["/oscrouter/nope", "reserved_address"], ["/oscrouter/private", "malformed_packet"]]) {
    router.receive(
      a,
      encodeBundle({
        timetag: 1n,
        elements: Array.from({ length: 256 }, () => msg(address!)).map((m) => decodePacket(m)),
      }),
    );
    assert.deepEqual(a.take().map((p) => errorOf(p)[0]), [code]);
  }
  // Different codes in one bundle each get their reply; the next bundle gets its own again.
  const mixed = encodeBundle({
    timetag: 1n,
    elements: [
      { address: "/oscrouter/nope", args: [] },
      { address: "/oscrouter/private", args: [s("zed"), s("k")] },
      { address: "/oscrouter/other", args: [] },
      { address: "/oscrouter/private", args: [s("bob"), s("k")] },
      { address: "/oscrouter/register", args: [] },
    ],
  });
  router.receive(a, mixed);
  assert.deepEqual(a.take().map((p) => errorOf(p)[0]), ["reserved_address", "unknown_user", "already_registered"]);
  assert.equal(b.take().length, 1, "the good private message in the bundle was delivered");
  router.receive(a, mixed);
  assert.equal(a.take().length, 3);
  // Outside bundles, every bad message gets its reply.
  router.receive(a, msg("/oscrouter/nope"));
  router.receive(a, msg("/oscrouter/nope"));
  assert.equal(a.take().length, 2);
});
