/** A stream that ends inside a frame reports it (the decoders' `end`, the deframer streams' flush). */
import assert from "node:assert/strict";
import { BadFrameError } from "../../lib/framing/errors.ts";
import { LengthPrefixDecoder, LengthPrefixDeframer } from "../../lib/framing/length_prefix.ts";
import { SlipDecoder, SlipDeframer } from "../../lib/framing/slip.ts";
import type { Deframed } from "../../lib/framing/errors.ts";
import { hex, toHex } from "../hex.ts";

function endAfter(decoder: LengthPrefixDecoder | SlipDecoder, chunk: Uint8Array): Deframed[] {
  const out: Deframed[] = [];
  decoder.push(chunk, out);
  decoder.end(out);
  return out.map((item) => item instanceof Uint8Array ? item.slice() : item);
}

function assertTruncated(item: Deframed | undefined, pattern: RegExp): void {
  assert.ok(item instanceof BadFrameError, `expected a BadFrameError, got ${String(item)}`);
  assert.equal(item.fatal, true);
  assert.equal(item.code, "bad_frame");
  assert.match(item.message, pattern);
}

Deno.test("length prefix end: mid-header, mid-packet and spanning packets are reported; a clean end is not", () => {
  const lp = () => new LengthPrefixDecoder({ maxPacketBytes: 1024 });
  const midHeader = endAfter(lp(), hex("00 00 00 04 2f 61 00 00 00 00"));
  assert.equal(midHeader.length, 2);
  assert.equal(toHex(midHeader[0] as Uint8Array), "2f 61 00 00");
  assertTruncated(midHeader[1], /2 of the 4 bytes of a length prefix/);
  const midPacket = endAfter(lp(), hex("00 00 00 08 2f 61 00"));
  assert.equal(midPacket.length, 1);
  assertTruncated(midPacket[0], /3 of the 8 bytes of a packet/);
  assert.deepEqual(endAfter(lp(), hex("00 00 00 04 2f 61 00 00")).length, 1);
  assert.deepEqual(endAfter(lp(), new Uint8Array(0)), []);
});

Deno.test("length prefix end: gives the partial packet's memory back, and says nothing after a fatal error", () => {
  let granted = 0;
  const decoder = new LengthPrefixDecoder({ maxPacketBytes: 4096, grant: (d) => (granted += d, true) });
  decoder.push(hex("00 00 08 00 2f 61 00 00"), []);
  assert.ok(decoder.heldBytes > 0 && granted > 0);
  const out: Deframed[] = [];
  decoder.end(out);
  assert.equal(out.length, 1);
  assert.equal(decoder.heldBytes, 0);
  assert.equal(granted, 0);
  const failed = endAfter(new LengthPrefixDecoder({ maxPacketBytes: 4 }), hex("00 00 00 08 2f"));
  assert.equal(failed.length, 1, "only the size error: the stream was already given up");
  assert.notEqual((failed[0] as Error).name, "BadFrameError");
});

Deno.test("slip end: bytes after the last END are reported, a dangling ESC too; a clean or dropped frame is not", () => {
  const slip = () => new SlipDecoder({ maxPacketBytes: 8 });
  const tail = endAfter(slip(), hex("c0 2f 61 c0 2f 62"));
  assert.equal(tail.length, 2);
  assert.equal(toHex(tail[0] as Uint8Array), "2f 61");
  assertTruncated(tail[1], /2 bytes after the last END/);
  assertTruncated(endAfter(slip(), hex("c0 db"))[0], /SLIP frame/);
  assert.equal(endAfter(slip(), hex("c0 2f 61 c0")).length, 1);
  assert.equal(endAfter(slip(), hex("c0 c0")).length, 0);
  const dropped = endAfter(slip(), hex("c0 01 02 03 04 05 06 07 08 09"));
  assert.equal(dropped.length, 1, "the oversized frame was reported when dropped, not again at the end");
});

Deno.test("deframer streams flush: a stream ending mid-frame ends with the error, after the packets", async () => {
  const lp = await Array.fromAsync(
    ReadableStream.from([hex("00 00 00 04 2f 61 00 00 00 00 00 04 2f")])
      .pipeThrough(new LengthPrefixDeframer({ maxPacketBytes: 64 })),
  );
  assert.equal(lp.length, 2);
  assert.equal(toHex(lp[0]![0] as Uint8Array), "2f 61 00 00");
  assertTruncated(lp[1]![0], /1 of the 4 bytes of a packet/);
  const slip = await Array.fromAsync(
    ReadableStream.from([hex("c0 2f 61 c0 2f")]).pipeThrough(new SlipDeframer({ maxPacketBytes: 64 })),
  );
  assert.equal(slip.flat().length, 2);
  assertTruncated(slip.flat()[1], /1 bytes after the last END/);
  const clean = await Array.fromAsync(
    ReadableStream.from([hex("c0 2f 61 c0")]).pipeThrough(new SlipDeframer({ maxPacketBytes: 64 })),
  );
  assert.equal(clean.length, 1, "no empty array at a clean end");
});
