import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { BadFrameError, FrameTooLargeError, MisalignedFrameError } from "../../lib/framing/errors.ts";
import { encodeLengthPrefixFrame, LengthPrefixDecoder, LengthPrefixDeframer } from "../../lib/framing/length_prefix.ts";
import { hex, toHex } from "../hex.ts";
import { join, runDecoder, splitAt } from "./frames.ts";

const decoder = () => new LengthPrefixDecoder({ maxPacketBytes: 1024 });

Deno.test("length prefix: encodes size then packet", () => {
  assert.equal(toHex(encodeLengthPrefixFrame(hex("2f 61 00 00"))), "00 00 00 04 2f 61 00 00");
});

Deno.test("length prefix: two frames in one chunk, and one frame over three chunks", () => {
  const out = runDecoder(decoder(), [hex("00 00 00 04 2f 61 00 00 00 00 00 08 2f 62 00 00 2c 00 00 00")]);
  assert.deepEqual(out.map((p) => toHex(p as Uint8Array)), ["2f 61 00 00", "2f 62 00 00 2c 00 00 00"]);
  const split = runDecoder(decoder(), [hex("00 00"), hex("00 08 2f 62"), hex("00 00 2c 00 00 00")]);
  assert.deepEqual(split.map((p) => toHex(p as Uint8Array)), ["2f 62 00 00 2c 00 00 00"]);
});

Deno.test("length prefix: a size that is not a multiple of 4 skips that frame only", () => {
  const out = runDecoder(decoder(), [hex("00 00 00 05 01 02 03 04 05 00 00 00 04 2f 61 00 00")]);
  assert.ok(out[0] instanceof MisalignedFrameError);
  assert.equal(out[0].fatal, false);
  assert.equal(toHex(out[1] as Uint8Array), "2f 61 00 00");
  // also when the skipped frame spans chunks
  const spans = runDecoder(decoder(), [hex("00 00 00 05 01 02"), hex("03 04 05 00 00 00 04 2f 61 00 00")]);
  assert.ok(spans[0] instanceof MisalignedFrameError);
  assert.equal(toHex(spans[1] as Uint8Array), "2f 61 00 00");
});

Deno.test("length prefix: size 0, negative or above the limit is fatal, packets before it survive", () => {
  for (
    const [bad, type] of [["00 00 00 00", BadFrameError], ["ff ff ff fc", BadFrameError], [
      "00 00 04 04",
      FrameTooLargeError,
    ]] as const
  ) {
    const d = decoder();
    const out = runDecoder(d, [hex(`00 00 00 04 2f 61 00 00 ${bad} 00 00 00 04 2f 62 00 00`)]);
    assert.equal(out.length, 2, `after ${bad}`);
    assert.equal(toHex(out[0] as Uint8Array), "2f 61 00 00");
    assert.ok(out[1] instanceof type);
    assert.equal((out[1] as BadFrameError).fatal, true);
    assert.ok(d.failed);
    assert.deepEqual(runDecoder(d, [hex("00 00 00 04 2f 63 00 00")]), [], "ignores input after a fatal error");
  }
});

Deno.test("length prefix: a frame at exactly the limit passes", () => {
  const d = new LengthPrefixDecoder({ maxPacketBytes: 8 });
  const out = runDecoder(d, [encodeLengthPrefixFrame(new Uint8Array(8))]);
  assert.equal((out[0] as Uint8Array).length, 8);
});

Deno.test("length prefix: a packet inside one chunk is a view, not a copy", () => {
  const chunk = hex("00 00 00 04 2f 61 00 00");
  const out: unknown[] = [];
  decoder().push(chunk, out as never);
  assert.equal((out[0] as Uint8Array).buffer, chunk.buffer);
});

Deno.test("length prefix property: any split of a stream yields the same packets", () => {
  const packets = fc.array(fc.uint8Array({ maxLength: 64 }).map((b) => b.slice(0, b.length & ~3)), {
    minLength: 1,
    maxLength: 10,
  }).map((ps) => ps.filter((p) => p.length > 0)).filter((ps) => ps.length > 0);
  fc.assert(
    fc.property(packets, fc.array(fc.nat(), { maxLength: 30 }), (ps, cuts) => {
      const stream = join(ps.map(encodeLengthPrefixFrame));
      const out = runDecoder(decoder(), splitAt(stream, cuts));
      assert.deepEqual(out.map((p) => toHex(p as Uint8Array)), ps.map(toHex));
      const byteByByte = runDecoder(decoder(), Array.from(stream, (b) => new Uint8Array([b])));
      assert.deepEqual(byteByByte.map((p) => toHex(p as Uint8Array)), ps.map(toHex));
    }),
    { numRuns: 300 },
  );
});

Deno.test("length prefix property: arbitrary bytes give only typed errors, bounded memory", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), (chunks) => {
      const d = new LengthPrefixDecoder({ maxPacketBytes: 64 });
      for (const item of runDecoder(d, chunks)) {
        if (item instanceof Uint8Array) assert.ok(item.length > 0 && item.length <= 64 && item.length % 4 === 0);
        else {assert.ok(
            item instanceof BadFrameError || item instanceof FrameTooLargeError || item instanceof MisalignedFrameError,
          );}
      }
      assert.ok(d.pendingBytes <= 64 + 4);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("LengthPrefixDeframer: works as a TransformStream, one array per chunk", async () => {
  const frames = [hex("00 00 00 04 2f 61"), hex("00 00 00 00 00 04 2f 62 00 00 00 00 00 04 2f 63 00 00")];
  const batches = await Array.fromAsync(
    ReadableStream.from(frames).pipeThrough(new LengthPrefixDeframer({ maxPacketBytes: 64 })),
  );
  assert.deepEqual(batches.map((b) => b.map((p) => toHex(p as Uint8Array))), [[
    "2f 61 00 00",
    "2f 62 00 00",
    "2f 63 00 00",
  ]]);
});
