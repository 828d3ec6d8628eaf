/** The packets the micro-benchmarks share. */
import type { OscMessage } from "../lib/osc/types.ts";

/** 32 bytes: "/synth/frequency" ,if 1 440.0 */
export const SMALL: OscMessage = {
  address: "/synth/frequency",
  args: [{ type: "i", value: 1 }, { type: "f", value: 440 }],
};
/** ~4 KB: a blob and a few values. */
export const LARGE: OscMessage = {
  address: "/sample/chunk",
  args: [{ type: "i", value: 7 }, { type: "b", value: Uint8Array.from({ length: 4000 }, (_, i) => i & 0xff) }, {
    type: "d",
    value: 0.25,
  }],
};

const ascii = new TextEncoder();
const padded = (text: string): Uint8Array => {
  const out = new Uint8Array(text.length + 4 - (text.length % 4));
  out.set(ascii.encode(text));
  return out;
};

/**
 * A message of about `totalBytes`: `lead` string arguments ("bob", then "key"), then as many
 * `repeated` arguments (`T` or `i`) as fit. Built directly: the encoder would be slow at this size.
 */
export function bigMessage(address: string, lead: string, repeated: "T" | "i", totalBytes: number): Uint8Array {
  const head = padded(address);
  const leadArgs = [...lead].map((_, i) => padded(i === 0 ? "bob" : "key"));
  const leadBytes = leadArgs.reduce((n, a) => n + a.length, 0);
  const argBytes = repeated === "i" ? 4 : 0;
  const count = Math.floor((totalBytes - head.length - leadBytes - 8) / (1 + argBytes));
  const tags = padded("," + lead + repeated.repeat(count));
  const out = new Uint8Array(head.length + tags.length + leadBytes + count * argBytes);
  let at = 0;
  for (const part of [head, tags, ...leadArgs]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A bundle of about `totalBytes` made of argument-less messages to `address`. */
export function bigBundle(address: string, totalBytes: number): Uint8Array {
  const element = new Uint8Array([...padded(address), ...padded(",")]);
  const count = Math.floor((totalBytes - 16) / (4 + element.length));
  const out = new Uint8Array(16 + count * (4 + element.length));
  out.set(padded("#bundle"));
  out[15] = 1;
  const view = new DataView(out.buffer);
  for (let i = 0, at = 16; i < count; i++, at += 4 + element.length) {
    view.setUint32(at, element.length);
    out.set(element, at + 4);
  }
  return out;
}
