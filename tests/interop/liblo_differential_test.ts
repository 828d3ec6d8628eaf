/**
 * Differential test of the OSC validator and decoder against an independent parser: liblo 0.31
 * (its C API through tests/interop/liblo_verdict.py, one long-running process for every packet).
 *
 * Over 100,000 generated and mutated packets, and 14,280 enumerated around the blob-wrap crash, whose sizes and lengths come from the 32-bit edges
 * (tests/osc/edges.ts), `scanPacket` accepts exactly what liblo accepts, and for accepted packets
 * `decodePacket` reads the same messages, types and values as liblo. Where OSC asks for more than
 * liblo checks, or liblo lacks a type, the script applies a named rule (its docstring lists them:
 * address_slash, r_and_arrays, array_rules, bundle_depth); one more, on this side:
 *
 *   snan_float32  A JavaScript number cannot hold a float32 signalling NaN: V8 sets its quiet bit
 *                 when it widens it. liblo's value for such an `f` is compared with that bit set; the
 *                 same for a float64 signalling NaN in a `d`, which V8 quiets when it reads it.
 *
 * Nothing else is excepted: no packet is skipped.
 */
import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { decodePacket, encodeBundle, encodeMessage } from "../../lib/osc/codec.ts";
import { OscDecodeError } from "../../lib/osc/errors.ts";
import type { OscArg, OscBundle, OscPacket } from "../../lib/osc/types.ts";
import { MAX_ARRAY_DEPTH, MAX_BUNDLE_DEPTH, scanPacket } from "../../lib/osc/validate.ts";
import { toHex } from "../hex.ts";
import { blobEdgeFamily, edgePacket, isSignallingNaN32, isSignallingNaN64 } from "../osc/edges.ts";

const PACKETS = 100_000;
const SCRIPT = new URL("./liblo_verdict.py", import.meta.url).pathname;

type Tree = [string, string, unknown[]];
type Verdict = { ok: true; tree: Tree } | { ok: false; why: string };

const utf8 = new TextEncoder();
const hexOf = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const bits = (width: 8 | 16, set: (view: DataView) => void) => {
  const view = new DataView(new ArrayBuffer(8));
  set(view);
  return width === 8
    ? view.getUint32(0).toString(16).padStart(8, "0")
    : view.getBigUint64(0).toString(16).padStart(16, "0");
};

/** Our reading of a packet in liblo_verdict.py's tree form (r as i, array brackets as N). */
function tree(packet: OscPacket): Tree {
  if ("timetag" in packet) return ["#bundle", packet.timetag.toString(16).padStart(16, "0"), packet.elements.map(tree)];
  let types = "";
  const args: (string | null)[] = [];
  const walk = (arg: OscArg): void => {
    const push = (type: string, value: string | null) => {
      types += type;
      args.push(value);
    };
    switch (arg.type) {
      case "i":
      case "r":
        return push("i", bits(8, (v) => v.setUint32(0, arg.value >= 0 ? arg.value : arg.value + 2 ** 32)));
      case "f":
        return push("f", bits(8, (v) => v.setFloat32(0, arg.value)));
      case "d":
        return push("d", bits(16, (v) => v.setFloat64(0, arg.value)));
      case "h":
      case "t":
        return push(arg.type, BigInt.asUintN(64, arg.value).toString(16).padStart(16, "0"));
      case "c":
        return push("c", (arg.value % 256).toString(16).padStart(2, "0"));
      case "m":
      case "b":
        return push(arg.type, hexOf(arg.value));
      case "s":
      case "S":
        return push(arg.type, hexOf(utf8.encode(arg.value)));
      case "[":
        push("N", null);
        arg.value.forEach(walk);
        return push("N", null);
      default:
        return push(arg.type, null);
    }
  };
  packet.args.forEach(walk);
  return [hexOf(utf8.encode(packet.address)), types, args];
}

/** liblo's tree with the snan_float32 rule applied; strings masked when we could not read them as UTF-8. */
function normalise(node: Tree, maskStrings: boolean): Tree {
  if (node[0] === "#bundle") return [node[0], node[1], (node[2] as Tree[]).map((n) => normalise(n, maskStrings))];
  const [path, types, args] = node;
  const values = (args as (string | null)[]).map((value, i) => {
    const type = types[i];
    if (type === "f" && isSignallingNaN32(parseInt(value!, 16))) {
      return (parseInt(value!, 16) + 0x400000).toString(16).padStart(8, "0");
    }
    if (type === "d" && isSignallingNaN64(parseInt(value!.slice(0, 8), 16), parseInt(value!.slice(8), 16))) {
      return (parseInt(value!.slice(0, 8), 16) + 0x80000).toString(16).padStart(8, "0") + value!.slice(8);
    }
    if (maskStrings && (type === "s" || type === "S")) return "?";
    return value;
  });
  return [maskStrings ? "?" : path, types, values];
}

/** Every edge packet, plus nesting at and past the limits. */
function packets(seed: number): Uint8Array[] {
  const out = fc.sample(edgePacket, { numRuns: PACKETS, seed });
  let bundle: OscPacket = { address: "/deep", args: [] };
  for (let depth = 1; depth <= MAX_BUNDLE_DEPTH + 2; depth++) {
    bundle = { timetag: 1n, elements: [bundle] } satisfies OscBundle;
    out.push(encodeBundle(bundle as OscBundle));
  }
  for (let depth = MAX_ARRAY_DEPTH - 1; depth <= MAX_ARRAY_DEPTH + 1; depth++) {
    let arg: OscArg = { type: "i", value: 1 };
    for (let i = 0; i < depth; i++) arg = { type: "[", value: [arg] };
    out.push(encodeMessage({ address: "/arrays", args: [arg] }));
  }
  out.push(...blobEdgeFamily().map((f) => f.bytes)); // the blob-wrap packet's family, enumerated
  return out;
}

async function libloVerdicts(all: Uint8Array[]): Promise<Verdict[]> {
  const child = new Deno.Command("/usr/bin/python3", { args: [SCRIPT], stdin: "piped", stdout: "piped" }).spawn();
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    for (let i = 0; i < all.length; i += 1000) {
      const batch = all.slice(i, i + 1000);
      const frame = new Uint8Array(batch.reduce((n, p) => n + 4 + p.length, 0));
      const view = new DataView(frame.buffer);
      let at = 0;
      for (const p of batch) {
        view.setUint32(at, p.length);
        frame.set(p, at + 4);
        at += 4 + p.length;
      }
      await writer.write(frame);
    }
    await writer.close();
  })();
  const [{ code, stdout }] = await Promise.all([child.output(), writing]);
  assert.equal(code, 0, "liblo_verdict.py failed");
  const lines = new TextDecoder().decode(stdout).trimEnd().split("\n");
  assert.equal(lines.length, all.length);
  return lines.map((line) => JSON.parse(line));
}

Deno.test({
  name: "liblo differential: scanPacket and decodePacket agree with liblo on 100,000 edge packets",
  async fn() {
    const seed = Number(Deno.env.get("LIBLO_SEED") ?? Date.now() % 2 ** 31); // LIBLO_SEED replays a failure
    const all = packets(seed);
    const verdicts = await libloVerdicts(all);
    const rules = new Map<string, number>();
    let accepted = 0;
    for (const [i, bytes] of all.entries()) {
      const liblo = verdicts[i]!;
      let ours: OscDecodeError | undefined;
      try {
        scanPacket(bytes);
      } catch (e) {
        if (!(e instanceof OscDecodeError)) throw e;
        ours = e;
      }
      const where = `packet ${i} (seed ${seed}): ${toHex(bytes)}`;
      if (!liblo.ok) {
        const rule = liblo.why.startsWith("liblo:") ? "liblo" : liblo.why;
        rules.set(rule, (rules.get(rule) ?? 0) + 1);
        assert.ok(ours !== undefined, `liblo refuses (${liblo.why}), scanPacket accepts ${where}`);
        continue;
      }
      assert.equal(ours, undefined, `liblo accepts, scanPacket refuses (${ours?.message}) ${where}`);
      accepted++;
      let strict = true;
      try {
        decodePacket(bytes);
      } catch (e) {
        if (!(e instanceof OscDecodeError) || !/UTF-8/.test(e.reason)) throw e;
        strict = false;
      }
      const mine = tree(decodePacket(bytes, { invalidUtf8: "replace" }));
      assert.deepEqual(
        strict ? mine : normalise(mine, true),
        normalise(liblo.tree, !strict),
        `values differ ${where}`,
      );
    }
    console.log(`${all.length} packets: ${accepted} accepted by both; refusals by rule:`, Object.fromEntries(rules));
    assert.ok(accepted > all.length / 10 && accepted < all.length * 0.9, "a mix of accepted and refused packets");
  },
});
