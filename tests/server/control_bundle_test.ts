import assert from "node:assert/strict";
import { encodeBundle } from "../../lib/osc/codec.ts";
import type { OscMessage, OscPacket } from "../../lib/osc/types.ts";
import { MAX_CONTROL_BUNDLE_MESSAGES } from "../../lib/router/router.ts";
import { withServer } from "./harness.ts";
import { s, TestClient } from "./test_client.ts";

const bundle = (...elements: OscPacket[]) => encodeBundle({ timetag: 1n, elements });
const message = (address: string, ...args: OscMessage["args"]): OscMessage => ({ address, args });
const many = (n: number, m: OscMessage) => Array.from({ length: n }, () => m);

Deno.test("control bundle: up to the limit it is opened; one message more is refused whole, the connection stays", async () => {
  await withServer({}, async ({ lp }) => {
    const a = await TestClient.connectFrom(lp, "127.0.0.2");
    const b = await TestClient.connectFrom(lp, "127.0.0.3");
    try {
      await a.register("a");
      await b.register("b");
      await a.nextMessage();
      const n = MAX_CONTROL_BUNDLE_MESSAGES;
      // At the limit, a ping then n - 1 messages, the last in a nested bundle: each arrives alone.
      await a.send(
        bundle(message("/oscrouter/ping"), ...many(n - 2, message("/a")), {
          timetag: 1n,
          elements: [message("/last")],
        }),
      );
      for (let i = 0; i < n - 2; i++) assert.equal((await b.nextMessage()).address, "/a");
      assert.equal((await b.nextMessage()).address, "/last");
      // One over (counted depth-first through the nested bundle): nothing is handled.
      await a.send(
        bundle(message("/oscrouter/private", s("b"), s("/p")), ...many(n - 1, message("/a")), {
          timetag: 1n,
          elements: [message("/z")],
        }),
      );
      const [code, text, context] = await a.nextError();
      assert.equal(code, "malformed_packet");
      assert.match(text, new RegExp(`at most ${n} messages.*send control messages alone or in small bundles`));
      assert.equal(context, "#bundle");
      await b.expectSilence(200);
      // The sender stays connected and registered.
      await a.sendMsg("/after");
      assert.equal((await b.nextMessage()).address, "/after");
      // Without a control message inside, a bundle of any count is forwarded intact.
      const plain = bundle(...many(4 * n, message("/a")));
      await a.send(plain);
      assert.equal((await b.next()).length, plain.length);
      assert.equal(a.closed, false);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("control bundle: a register followed by too many messages is refused and closed before registering", async () => {
  await withServer({}, async ({ lp }) => {
    const c = await TestClient.connectFrom(lp, "127.0.0.4");
    try {
      const register = message("/oscrouter/register", s("c"), s("upw"), s("band"), s("gpw"));
      await c.send(bundle(register, ...many(MAX_CONTROL_BUNDLE_MESSAGES, message("/a"))));
      assert.equal((await c.nextError())[0], "malformed_packet");
      await c.expectClosed();
    } finally {
      await c.close();
    }
  });
});

/** Milliseconds from sending `packets` to `to` receiving the marker sent after them. */
async function timeThrough(from: TestClient, to: TestClient, packets: Uint8Array[]): Promise<number> {
  const start = performance.now();
  for (const packet of packets) await from.send(packet);
  await from.sendMsg("/marker");
  for (;;) {
    const bytes = await to.next(20_000);
    if (bytes.length < 64 && new TextDecoder().decode(bytes.subarray(0, 7)) === "/marker") break;
  }
  return performance.now() - start;
}

Deno.test("control bundle: ~1 MB of private messages in one bundle costs about what forwarding 1 MB costs", async () => {
  await withServer({}, async ({ lp }) => {
    const attacker = await TestClient.connectFrom(lp, "127.0.0.2");
    const listener = await TestClient.connectFrom(lp, "127.0.0.3");
    try {
      await attacker.register("me", "solo");
      await listener.register("l", "solo");
      await attacker.nextMessage();
      // The attack seen on main: 26,200 `/oscrouter/private "me" "/x"` (943 KB) in one bundle
      // cost 159–173 ms of router CPU each (every element decoded, rewritten and sent back).
      const attack = bundle(...many(26_200, message("/oscrouter/private", s("me"), s("/x"))));
      const plain = bundle(...many(26_200, message("/oscrouter/priv", s("me"), s("/x"))));
      assert.equal(plain.length, attack.length - 26_200 * 4);
      const rounds = 4;
      await timeThrough(attacker, listener, [plain]); // warm up
      const plainMs = await timeThrough(attacker, listener, Array.from({ length: rounds }, () => plain));
      const attackMs = await timeThrough(attacker, listener, Array.from({ length: rounds }, () => attack));
      assert.ok(
        attackMs < 3 * plainMs + 150,
        `${rounds} attack bundles took ${attackMs.toFixed(0)} ms, ${rounds} plain ones ${plainMs.toFixed(0)} ms`,
      );
      for (let i = 0; i < rounds; i++) assert.equal((await attacker.nextError())[0], "malformed_packet");
    } finally {
      await attacker.close();
      await listener.close();
    }
  });
});
