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
