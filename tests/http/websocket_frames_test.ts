/** The WebSocket frame decoder on its own: pieces of any size, fragments, control frames, limits. */
import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { WebSocketDecoder } from "../../lib/http/websocket_frames.ts";
import { clientFrame } from "./raw.ts";

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("websocket frames: any split of the stream gives the same messages", () => {
  const payloads = [
    new Uint8Array(0),
    Uint8Array.of(1, 2, 3),
    new Uint8Array(300).fill(7),
    new Uint8Array(70_000).fill(9),
  ];
  const stream = join([
    ...payloads.map((p) => clientFrame(2, p)),
    clientFrame(9, Uint8Array.of(5)), // a ping between messages
    clientFrame(2, Uint8Array.of(1), { fin: false }),
    clientFrame(10, new Uint8Array(0)), // a pong inside a fragmented message
    clientFrame(0, Uint8Array.of(2), { fin: false }),
    clientFrame(0, Uint8Array.of(3)),
    clientFrame(1, new TextEncoder().encode("text")),
    clientFrame(8, Uint8Array.of(0x03, 0xe8)),
  ]);
  for (const piece of [1, 2, 3, 7, 125, 4096, stream.length]) {
    const decoder = new WebSocketDecoder(100_000);
    const events = [];
    for (let at = 0; at < stream.length; at += piece) events.push(...decoder.push(stream.slice(at, at + piece)));
    assert.deepEqual(events.map((e) => e.kind), [
      "message",
      "message",
      "message",
      "message",
      "ping",
      "pong",
      "message",
      "message",
      "close",
    ], `pieces of ${piece}`);
    const messages = events.filter((e) => e.kind === "message");
    for (const [i, p] of payloads.entries()) assert.deepEqual(messages[i]!.data, p);
    assert.deepEqual(messages[4]!.data, Uint8Array.of(1, 2, 3));
    assert.equal(messages[4]!.binary, true);
    assert.equal(messages[5]!.binary, false);
    assert.deepEqual(events.at(-1), { kind: "close", code: 1000 });
    assert.equal(decoder.heldBytes, 0);
  }
});

Deno.test("websocket frames: a 1 MiB message trickled a byte at a time costs its bytes and linear time", () => {
  const frame = clientFrame(2, new Uint8Array(1024 * 1024).fill(1));
  const decoder = new WebSocketDecoder(1024 * 1024);
  const started = performance.now();
  let maxHeld = 0;
  let events: ReturnType<WebSocketDecoder["push"]> = [];
  for (let at = 0; at < frame.length; at++) {
    events = decoder.push(frame.subarray(at, at + 1));
    if ((at & 0xfff) === 0) maxHeld = Math.max(maxHeld, decoder.heldBytes);
  }
  const seconds = (performance.now() - started) / 1000;
  assert.equal(events.length, 1);
  assert.ok(maxHeld <= 2 * 1024 * 1024, `held ${maxHeld}`);
  assert.ok(seconds < 5, `took ${seconds.toFixed(2)} s`);
});

Deno.test("websocket frames: sizes at the edges of every length encoding and of the limit", () => {
  for (const limit of [125, 126, 65_535, 65_536]) {
    const ok = new WebSocketDecoder(limit).push(clientFrame(2, new Uint8Array(limit)));
    assert.equal(ok[0]?.kind, "message", `${limit} bytes under a limit of ${limit}`);
    const over = new WebSocketDecoder(limit).push(clientFrame(2, new Uint8Array(0), { announce: limit + 1 }));
    assert.deepEqual(over, [{ kind: "too_large", announcedBytes: limit + 1 }]);
  }
  for (const announce of [2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
    const events = new WebSocketDecoder(1 << 20).push(clientFrame(2, new Uint8Array(0), { announce }));
    assert.deepEqual(events, [{ kind: "too_large", announcedBytes: announce }], String(announce));
  }
  // Fragments add up: 3 × 400 passes 1000 at the third, before its payload.
  const decoder = new WebSocketDecoder(1000);
  assert.deepEqual(decoder.push(clientFrame(2, new Uint8Array(400), { fin: false })), []);
  assert.deepEqual(decoder.push(clientFrame(0, new Uint8Array(400), { fin: false })), []);
  assert.deepEqual(decoder.push(clientFrame(0, new Uint8Array(0), { announce: 400 }).subarray(0, 8)), [
    { kind: "too_large", announcedBytes: 1200 },
  ]);
  assert.equal(decoder.heldBytes, 0, "the fragments kept so far are let go");
});

Deno.test("websocket frames: arbitrary bytes in arbitrary pieces never throw and never hold more than the bound", () => {
  const limit = 4096;
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.tuple(fc.integer({ min: 0, max: 15 }), fc.uint8Array({ maxLength: 5000 }), fc.boolean()).map((
            [opcode, payload, fin],
          ) => clientFrame(opcode, payload, { fin })),
          fc.constantFrom(0, 1, 125, 126, 65_535, 65_536, 2 ** 31 - 1, 2 ** 32 - 1).map((announce) =>
            clientFrame(2, new Uint8Array(0), { announce })
          ),
        ),
        { maxLength: 20 },
      ),
      (pieces) => {
        const decoder = new WebSocketDecoder(limit);
        for (const piece of pieces) {
          for (const event of decoder.push(piece)) {
            if (event.kind === "message") assert.ok(event.data.length <= limit);
          }
          assert.ok(decoder.heldBytes <= 2 * limit + 14, `held ${decoder.heldBytes}`);
        }
      },
    ),
    { numRuns: 2000 },
  );
});
