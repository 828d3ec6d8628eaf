import assert from "node:assert/strict";
import { detectFraming } from "../../lib/framing/detect.ts";
import { OutgoingPacket } from "../../lib/framing/outgoing.ts";
import { toHex } from "../hex.ts";

Deno.test("detectFraming: 0x00 is a length prefix; END, / and # are SLIP; anything else is none", () => {
  assert.equal(detectFraming(0x00), "length-prefix");
  for (const b of [0xc0, 0x2f, 0x23]) assert.equal(detectFraming(b), "slip");
  for (let b = 0; b < 256; b++) {
    if (![0x00, 0xc0, 0x2f, 0x23].includes(b)) assert.equal(detectFraming(b), undefined, `byte ${b}`);
  }
});

Deno.test("OutgoingPacket: each framing's frame is built once and shared", () => {
  const out = new OutgoingPacket(new Uint8Array([0x2f, 0xc0, 0, 0]));
  assert.equal(out.frame("length-prefix"), out.frame("length-prefix"));
  assert.equal(toHex(out.frame("length-prefix")), "00 00 00 04 2f c0 00 00");
  assert.equal(toHex(out.frame("slip")), "c0 2f db dc 00 00 c0");
});
