import assert from "node:assert/strict";
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { encodeSlipFrame } from "../../lib/framing/slip.ts";
import { decodePacket, encodeBundle, encodeMessage } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { hex, toHex } from "../hex.ts";
import { eventually, withServer, withSlowReceiver } from "./harness.ts";
import { s, TestClient, userNames } from "./test_client.ts";

Deno.test("server: a length-prefix client and a SLIP client in one group, blob with 0xC0 and 0xDB", async () => {
  await withServer({}, async ({ lp, slip }) => {
    const sc = await TestClient.connect(lp, "length-prefix");
    const pd = await TestClient.connect(slip, "slip");
    try {
      assert.deepEqual(await sc.register("sc"), ["sc"]);
      assert.deepEqual(await pd.register("pd"), ["sc", "pd"]);
      assert.deepEqual(userNames(await sc.nextMessage()), ["sc", "pd"]);
      const packet = encodeMessage({
        address: "/blob",
        args: [{ type: "b", value: hex("c0 db dc dd c0 c0 db") }, { type: "i", value: 0xc0dbc0 }],
      });
      await sc.send(packet);
      assert.equal(toHex(await pd.next()), toHex(packet));
      await pd.send(packet);
      assert.equal(toHex(await sc.next()), toHex(packet));
    } finally {
      await sc.close();
      await pd.close();
    }
  });
});

Deno.test("server: every type tag and a nested bundle arrive byte-for-byte", async () => {
  await withServer({}, async ({ lp, slip }) => {
    const a = await TestClient.connect(lp);
    const b = await TestClient.connect(slip, "slip");
    try {
      await a.register("a");
      await b.register("b");
      await a.nextMessage();
      const every = encodeMessage({
        address: "/all",
        args: [
          { type: "i", value: -1 },
          { type: "f", value: 0.5 },
          { type: "s", value: "héllo" },
          { type: "b", value: new Uint8Array([0xc0, 0xdb, 0]) },
          { type: "h", value: -(2n ** 62n) },
          { type: "t", value: 2n ** 63n + 5n },
          { type: "d", value: Math.PI },
          { type: "S", value: "sym" },
          { type: "c", value: 97 },
          { type: "r", value: 0xff8000ff },
          { type: "m", value: new Uint8Array([1, 0x90, 60, 127]) },
          { type: "T" },
          { type: "F" },
          { type: "N" },
          { type: "I" },
          { type: "[", value: [{ type: "i", value: 1 }, { type: "[", value: [{ type: "s", value: "x" }] }] },
        ],
      });
      // A NaN with a payload: re-encoding would canonicalise it; forwarding must not.
      const nan = hex("2f 6e 61 6e 00 00 00 00 2c 66 00 00 7f c0 00 01");
      const bundle = encodeBundle({
        timetag: 0xdeadbeef00000001n,
        elements: [{ address: "/1", args: [] }, {
          timetag: 1n,
          elements: [{ address: "/2", args: [{ type: "d", value: 1e300 }] }],
        }],
      });
      for (const packet of [every, nan, bundle]) {
        await a.send(packet);
        assert.equal(toHex(await b.next()), toHex(packet));
        await b.send(packet);
        assert.equal(toHex(await a.next()), toHex(packet));
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("server: two connections of one user both receive; the user leaves with its last connection", async () => {
  await withServer({}, async ({ server, lp, slip }) => {
    const a1 = await TestClient.connect(lp);
    const a2 = await TestClient.connect(slip, "slip");
    const b = await TestClient.connect(lp);
    try {
      await a1.register("ana");
      assert.deepEqual(await a2.register("ana"), ["ana"]);
      await b.register("bob");
      await a1.nextMessage();
      await a2.nextMessage();
      await b.sendMsg("/x", { type: "i", value: 1 });
      assert.equal((await a1.nextMessage()).address, "/x");
      assert.equal((await a2.nextMessage()).address, "/x");
      await a1.sendMsg("/from-a1");
      assert.equal((await b.nextMessage()).address, "/from-a1");
      await a2.expectSilence();
      await a1.close();
      await b.expectSilence(); // ana is still here
      await a2.close();
      assert.deepEqual(userNames(await b.nextMessage()), ["bob"]);
      assert.equal(server.router.userCount, 1);
    } finally {
      await a1.close();
      await a2.close();
      await b.close();
    }
    await eventually(() => server.router.groupCount === 0, "the empty group is removed");
    assert.equal(server.connectionCount, 0);
  });
});

Deno.test("server: a malformed packet gets an error and keeps its connection", async () => {
  await withServer({}, async ({ lp }) => {
    const a = await TestClient.connect(lp);
    const b = await TestClient.connect(lp);
    try {
      await a.register("a");
      await b.register("b");
      await a.nextMessage();
      await a.send(hex("2f 78 00 00 2c 69 00 00")); // int missing
      const [code, message, context] = await a.nextError();
      assert.equal(code, "malformed_packet");
      assert.match(message, /truncated argument 'i'/);
      assert.equal(context, "/x");
      await a.sendRaw(encodeLengthPrefixFrame(hex("2f 78 00 00 2c 00 00 00 00")).subarray(0, 13)); // size 9
      assert.equal((await a.nextError())[0], "malformed_packet");
      await a.sendMsg("/still-here");
      assert.equal((await b.nextMessage()).address, "/still-here");
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("server: an impossible length prefix closes only that connection, after an error", async () => {
  await withServer({ maxPacketBytes: 1024 }, async ({ lp }) => {
    const a = await TestClient.connect(lp);
    const b = await TestClient.connect(lp);
    const c = await TestClient.connect(lp);
    try {
      await a.register("a");
      await b.register("b");
      await c.register("c");
      for (let i = 0; i < 2; i++) await a.nextMessage(); // lists as b and c joined
      await b.nextMessage();
      await a.sendRaw(hex("00 00 08 00")); // 2048 > 1024
      const [code, message] = await a.nextError();
      assert.equal(code, "packet_too_large");
      assert.match(message, /2048 bytes/);
      await a.expectClosed();
      assert.deepEqual(userNames(await b.nextMessage()), ["b", "c"]);
      await b.sendRaw(hex("00 00 00 00"));
      assert.equal((await b.nextError())[0], "bad_frame");
      await b.expectClosed();
      assert.deepEqual(userNames(await c.nextMessage()), ["b", "c"]);
      assert.deepEqual(userNames(await c.nextMessage()), ["c"]);
    } finally {
      await a.close();
      await b.close();
      await c.close();
    }
  });
});

Deno.test("server: SLIP bad escape and oversized frame drop that frame only", async () => {
  await withServer({ maxPacketBytes: 64 }, async ({ slip }) => {
    const a = await TestClient.connect(slip, "slip");
    const b = await TestClient.connect(slip, "slip");
    try {
      await a.register("a");
      await b.register("b");
      await a.nextMessage();
      await a.sendRaw(hex("c0 2f 78 db 01 c0"));
      assert.equal((await a.nextError())[0], "bad_frame");
      await a.sendRaw(encodeSlipFrame(new Uint8Array(100).fill(0x2f)));
      assert.equal((await a.nextError())[0], "packet_too_large");
      await a.sendMsg("/ok");
      assert.equal((await b.nextMessage()).address, "/ok");
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("server: framing is taken from the first byte on either port; garbage gets bad_frame", async () => {
  await withServer({}, async ({ lp, slip }) => {
    const slipOnLp = await TestClient.connect(lp, "slip");
    const lpOnSlip = await TestClient.connect(slip, "length-prefix");
    const garbage = await TestClient.connect(lp);
    const garbageSlip = await TestClient.connect(slip, "slip");
    try {
      await slipOnLp.register("x");
      await lpOnSlip.register("y");
      assert.deepEqual(userNames(await slipOnLp.nextMessage()), ["x", "y"]);
      await garbage.sendRaw(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
      const [code, message] = await garbage.nextError();
      assert.equal(code, "bad_frame");
      assert.match(message, /preceded by their size/);
      await garbage.expectClosed();
      await garbageSlip.sendRaw(new TextEncoder().encode("hello\n"));
      assert.match((await garbageSlip.nextError())[1], /SLIP/);
      await garbageSlip.expectClosed();
    } finally {
      for (const c of [slipOnLp, lpOnSlip, garbage, garbageSlip]) await c.close();
    }
  });
});

Deno.test("server: --strict-framing keeps each port to its own framing", async () => {
  await withServer({ strictFraming: true }, async ({ lp }) => {
    const slipOnLp = await TestClient.connect(lp, "length-prefix");
    try {
      await slipOnLp.sendRaw(encodeSlipFrame(encodeMessage({ address: "/oscrouter/register", args: [] })));
      assert.equal((await slipOnLp.nextError())[0], "bad_frame"); // 0xC02F6F73 read as a (negative) size
      await slipOnLp.expectClosed();
    } finally {
      await slipOnLp.close();
    }
  });
});

Deno.test("server: the register timeout closes a silent connection with not_registered", async () => {
  await withServer({ registerTimeoutMs: 200 }, async ({ server, lp }) => {
    const idle = await TestClient.connect(lp);
    const registered = await TestClient.connect(lp);
    try {
      await registered.register("r");
      const [code, message] = await idle.nextError(2000);
      assert.equal(code, "not_registered");
      assert.match(message, /0\.2 s/);
      await idle.expectClosed();
      await registered.expectSilence(300);
      assert.ok(!registered.closed);
      assert.equal(server.connectionCount, 1);
    } finally {
      await idle.close();
      await registered.close();
    }
  });
});

Deno.test("server: failed registers get an error before the close, and never reach the group", async () => {
  await withServer({}, async ({ lp }) => {
    const a = await TestClient.connect(lp);
    const eve = await TestClient.connect(lp);
    try {
      await a.register("ana", "band", "secret1", "secret2");
      await eve.sendMsg("/oscrouter/register", s("ana"), s("guess"), s("band"), s("secret2"));
      const [code, message] = await eve.nextError();
      assert.equal(code, "wrong_user_password");
      assert.ok(!message.includes("guess") && !message.includes("secret"));
      await eve.expectClosed();
      await a.expectSilence();
    } finally {
      await a.close();
      await eve.close();
    }
  });
});

Deno.test("server: --max-connections refuses the one over with server_full", async () => {
  await withServer({ maxConnections: 2 }, async ({ lp, slip }) => {
    const a = await TestClient.connect(lp);
    const b = await TestClient.connect(slip, "slip");
    await a.register("a");
    await b.register("b");
    const over = await TestClient.connect(slip, "slip");
    try {
      const [code, message] = await over.nextError();
      assert.equal(code, "server_full");
      assert.match(message, /--max-connections/);
      await over.expectClosed();
    } finally {
      await over.close();
    }
    await a.close();
    assert.deepEqual(userNames(await b.nextMessage()), ["b"], "b hears that a left");
    const again = await TestClient.connect(lp);
    try {
      assert.deepEqual(await again.register("c"), ["b", "c"], "a freed slot is usable again");
    } finally {
      await again.close();
      await b.close();
    }
  });
});

Deno.test("server: a client that never reads is cut off at its bound; the others are not delayed", async () => {
  const maxQueueBytes = 256 * 1024;
  await withServer({ maxQueueBytes }, async ({ server, lp }) => {
    // The slow client registers by hand and then never reads again.
    const { sender, fast, slow, close } = await withSlowReceiver(server, lp);
    try {
      const blob = { type: "b" as const, value: new Uint8Array(4096) };
      const total = 4000; // 16 MB: more than the kernel's socket buffers and the bound together
      const started = performance.now();
      let worstMs = 0;
      for (let i = 0; i < total; i++) {
        const sentAt = performance.now();
        await sender.sendMsg("/chunk", { type: "i", value: i }, blob);
        let got = decodePacket(await fast.next(5000)) as OscMessage;
        if (got.address === "/oscrouter/userlist") {
          assert.deepEqual(userNames(got), ["sender", "fast"], "the slow consumer was cut off");
          got = decodePacket(await fast.next(5000)) as OscMessage;
        }
        assert.deepEqual(got.args[0], { type: "i", value: i });
        worstMs = Math.max(worstMs, performance.now() - sentAt);
      }
      const elapsed = performance.now() - started;
      assert.ok(worstMs < 500, `a round trip took ${worstMs.toFixed(1)} ms while a client was stuck`);
      assert.ok(elapsed < 20_000);
      await eventually(() => server.router.userCount === 2, "the slow consumer is cut off");
      assert.deepEqual(userNames(await sender.nextMessage()), ["sender", "fast"]);
      assert.ok(server.pendingBytes <= 2 * maxQueueBytes, `router holds ${server.pendingBytes} bytes`);
      // The slow client finds its connection closed once it reads again.
      const buf = new Uint8Array(1 << 20);
      let closed = false;
      const deadline = Date.now() + 5000;
      while (!closed && Date.now() < deadline) {
        try {
          closed = (await slow.read(buf)) === null;
        } catch {
          closed = true;
        }
      }
      assert.ok(closed, "the slow client was disconnected");
    } finally {
      await close();
    }
  });
});

Deno.test("server: close() flushes and closes every connection", async () => {
  let client: TestClient | undefined;
  await withServer({}, async ({ lp }) => {
    client = await TestClient.connect(lp);
    await client.register("a");
  });
  await client!.expectClosed();
  await client!.close();
});
