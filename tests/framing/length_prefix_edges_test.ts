/** Length prefixes at the 32-bit edges, whole or split over chunks (issue 10: sizes must not wrap). */
import assert from "node:assert/strict";
import { BadFrameError, FrameTooLargeError } from "../../lib/framing/errors.ts";
import { LengthPrefixDecoder } from "../../lib/framing/length_prefix.ts";
import { hex } from "../hex.ts";
import { runDecoder } from "./frames.ts";

const EDGES = [
  ["7f ff ff fc", FrameTooLargeError, "2147483644"],
  ["7f ff ff ff", FrameTooLargeError, "2147483647"],
  ["80 00 00 00", BadFrameError, "-2147483648"],
  ["ff ff ff fd", BadFrameError, "-3"],
  ["ff ff ff ff", BadFrameError, "-1"],
] as const;

Deno.test("length prefix: sizes at the int32 edges are fatal with their true value, in one chunk or split", () => {
  for (const [size, type, shown] of EDGES) {
    for (const split of [0, 1, 2, 3]) {
      const bytes = hex(`00 00 00 04 2f 61 00 00 ${size} 00 00 00 00`);
      const d = new LengthPrefixDecoder({ maxPacketBytes: 1 << 20 });
      const chunks = split === 0 ? [bytes] : [bytes.subarray(0, 8 + split), bytes.subarray(8 + split)];
      const out = runDecoder(d, chunks);
      assert.equal(out.length, 2, `${size} split at ${split}`);
      assert.ok(out[1] instanceof type, `${size}: ${out[1]}`);
      assert.match((out[1] as Error).message, new RegExp(`(?<![\\d-])${shown}(?!\\d)`));
      assert.ok(d.failed);
    }
  }
});
