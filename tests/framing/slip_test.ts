import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { BadFrameError, FrameTooLargeError } from "../../lib/framing/errors.ts";
import { encodeSlipFrame, SlipDecoder, SlipDeframer } from "../../lib/framing/slip.ts";
import { hex, toHex } from "../hex.ts";
import { join, runDecoder, splitAt } from "./frames.ts";

const decoder = (maxPacketBytes = 1024) => new SlipDecoder({ maxPacketBytes });
const hexes = (items: unknown[]) => items.map((p) => p instanceof Uint8Array ? toHex(p) : p);

Deno.test("slip: encodes END + escaped packet + END, with 0xC0 and 0xDB inside", () => {
  assert.equal(toHex(encodeSlipFrame(hex("2f 61 00 00"))), "c0 2f 61 00 00 c0");
  assert.equal(toHex(encodeSlipFrame(hex("c0 db 01 c0"))), "c0 db dc db dd 01 db dc c0");
});

Deno.test("slip: decodes escapes, with or without a leading END, ignoring empty frames", () => {
  const out = runDecoder(decoder(), [hex("c0 db dc db dd 01 db dc c0 c0 c0 2f 61 c0 41 42 c0")]);
  assert.deepEqual(hexes(out), ["c0 db 01 c0", "2f 61", "41 42"]);
});

Deno.test("slip: an escape split across chunks", () => {
  const out = runDecoder(decoder(), [hex("c0 01 db"), hex("dc 02 c0")]);
  assert.deepEqual(hexes(out), ["01 c0 02"]);
});

Deno.test("slip: a bad escape drops that frame only, reading resumes after the next END", () => {
  const out = runDecoder(decoder(), [hex("c0 01 db 05 02 c0 2f 61 c0 03 db c0 04 c0")]);
  assert.ok(out[0] instanceof BadFrameError && !out[0].fatal);
  assert.equal(toHex(out[1] as Uint8Array), "2f 61");
  assert.ok(out[2] instanceof BadFrameError, "ESC followed by END is a bad escape");
  assert.equal(toHex(out[3] as Uint8Array), "04");
});

Deno.test("slip: an oversized frame is dropped without holding memory, the next one passes", () => {
  const d = decoder(8);
  const out = runDecoder(d, [hex("c0 01 02 03 04 05"), hex("06 07 08 09"), hex("0a 0b 0c")]);
  assert.equal(out.length, 1);
  assert.ok(out[0] instanceof FrameTooLargeError && !out[0].fatal);
  assert.equal(d.pendingBytes, 0);
  assert.deepEqual(hexes(runDecoder(d, [hex("0d c0 01 02 c0")])), ["01 02"]);
  assert.deepEqual(hexes(runDecoder(decoder(8), [hex("c0 01 02 03 04 05 06 07 08 c0")])), ["01 02 03 04 05 06 07 08"]);
});

Deno.test("slip: a frame in one chunk without escapes is a view; a spanning one is copied once", () => {
  const chunk = hex("c0 2f 61 00 00 c0");
  const out: unknown[] = [];
  decoder().push(chunk, out as never);
  assert.equal((out[0] as Uint8Array).buffer, chunk.buffer);
  const d = decoder();
  const first = hex("c0 2f 61");
  const spanned: unknown[] = [];
  d.push(first, spanned as never);
  first.fill(0xee); // the producer reuses its buffer: the decoder must have copied what it kept
  d.push(hex("00 00 c0"), spanned as never);
  assert.equal(toHex(spanned[0] as Uint8Array), "2f 61 00 00");
});

Deno.test("slip: many frames in one chunk stay linear (no rescans to the chunk's end)", () => {
  const frame = encodeSlipFrame(new Uint8Array(32).fill(1));
  const chunk = join(Array.from({ length: 20000 }, () => frame));
  const start = performance.now();
  const out = runDecoder(decoder(), [chunk]);
  assert.equal(out.length, 20000);
  assert.ok(performance.now() - start < 1000, "20,000 frames in one chunk took over a second");
});

Deno.test("slip property: any split of a stream yields the same packets", () => {
  const packets = fc.array(fc.uint8Array({ minLength: 1, maxLength: 48 }), { minLength: 1, maxLength: 10 });
  fc.assert(
    fc.property(packets, fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), (ps, cuts, single) => {
      // Senders differ: double END (ours, OSC 1.1) or a single END between frames (allowed by RFC 1055).
      const stream = join(ps.map((p) => single ? encodeSlipFrame(p).subarray(1) : encodeSlipFrame(p)));
      assert.deepEqual(hexes(runDecoder(decoder(), splitAt(stream, cuts))), ps.map(toHex));
      const byteByByte = runDecoder(decoder(), Array.from(stream, (b) => new Uint8Array([b])));
      assert.deepEqual(hexes(byteByByte), ps.map(toHex));
    }),
    { numRuns: 300 },
  );
});

Deno.test("slip property: arbitrary bytes give only packets within the limit and typed errors", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), (chunks) => {
      const d = decoder(16);
      for (const item of runDecoder(d, chunks)) {
        if (item instanceof Uint8Array) assert.ok(item.length > 0 && item.length <= 16);
        else assert.ok((item instanceof BadFrameError || item instanceof FrameTooLargeError) && !item.fatal);
      }
      assert.ok(d.pendingBytes <= 16);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("SlipDeframer: works as a TransformStream", async () => {
  const batches = await Array.fromAsync(
    ReadableStream.from([hex("c0 2f 61"), hex("c0 c0 2f 62 c0")]).pipeThrough(new SlipDeframer({ maxPacketBytes: 64 })),
  );
  assert.deepEqual(batches.map((b) => hexes(b)), [["2f 61", "2f 62"]]);
});
