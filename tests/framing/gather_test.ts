/** A packet that spans reads costs its bytes, not a piece per read, and asks its grant before growing. */
import assert from "node:assert/strict";
import { ServerBusyError } from "../../lib/framing/errors.ts";
import { GatherBuffer } from "../../lib/framing/gather_buffer.ts";
import { encodeLengthPrefixFrame, LengthPrefixDecoder } from "../../lib/framing/length_prefix.ts";
import { encodeSlipFrame, SlipDecoder } from "../../lib/framing/slip.ts";
import type { Deframed } from "../../lib/framing/errors.ts";

/** A packet of `size` bytes (a multiple of 4) with SLIP specials in it. */
function packet(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
}

/** A grant that records what is held and refuses past `limitBytes`. */
function ledger(limitBytes = Infinity) {
  const state = { held: 0, peak: 0, asks: 0 };
  const grant = (delta: number) => {
    if (delta > 0 && state.held + delta > limitBytes) return false;
    state.held += delta;
    state.asks++;
    state.peak = Math.max(state.peak, state.held);
    return true;
  };
  return { state, grant };
}

for (const framing of ["length-prefix", "slip"] as const) {
  Deno.test(`${framing}: a 1 MiB packet trickled one byte per push holds at most four times its bytes`, () => {
    const size = 1 << 20;
    const body = packet(size);
    const frame = framing === "slip" ? encodeSlipFrame(body) : encodeLengthPrefixFrame(body);
    const { state, grant } = ledger();
    const decoder = framing === "slip"
      ? new SlipDecoder({ maxPacketBytes: size, grant })
      : new LengthPrefixDecoder({ maxPacketBytes: size, grant });
    const out: Deframed[] = [];
    const one = new Uint8Array(1);
    let worstRatio = 0;
    for (let i = 0; i < frame.length; i++) {
      one[0] = frame[i]!; // one reused buffer, as the server reads
      decoder.push(one, out);
      const pending = decoder.pendingBytes;
      assert.equal(decoder.heldBytes, state.held, "the grant knows exactly what is held");
      if (pending > 512) worstRatio = Math.max(worstRatio, decoder.heldBytes / pending);
    }
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], body);
    assert.ok(worstRatio <= 4, `held ${worstRatio.toFixed(2)} x the bytes received`);
    assert.ok(state.peak <= size, `peak ${state.peak} > the packet's size`);
    assert.ok(state.asks < 20, `${state.asks} grants: growth is geometric`);
    assert.equal(decoder.heldBytes, 0);
    assert.equal(state.held, 0, "everything was given back once the packet was out");
  });
}

Deno.test("length prefix: a 4-byte header alone allocates nothing; its first bytes allocate about their size", () => {
  const { state, grant } = ledger();
  const decoder = new LengthPrefixDecoder({ maxPacketBytes: 1 << 24, grant });
  const out: Deframed[] = [];
  decoder.push(Uint8Array.of(0, 0xff, 0, 0), out); // announces 16 MiB - 64 KiB
  assert.equal(decoder.heldBytes, 0);
  decoder.push(new Uint8Array(3000), out);
  assert.ok(decoder.heldBytes >= 3000 && decoder.heldBytes <= 6000, `${decoder.heldBytes}`);
  assert.equal(state.held, decoder.heldBytes);
});

Deno.test("length prefix: memory refused drops the packet with a fatal server_busy and gives everything back", () => {
  const { state, grant } = ledger(100_000);
  const decoder = new LengthPrefixDecoder({ maxPacketBytes: 1 << 20, grant });
  const out: Deframed[] = [];
  const frame = encodeLengthPrefixFrame(packet(400_000));
  for (let at = 0; at < frame.length && !decoder.failed; at += 10_000) {
    decoder.push(frame.subarray(at, at + 10_000), out);
  }
  assert.equal(out.length, 1);
  assert.ok(out[0] instanceof ServerBusyError && out[0].fatal && out[0].code === "server_busy");
  assert.ok(decoder.failed);
  assert.equal(decoder.heldBytes, 0);
  assert.equal(state.held, 0);
});

Deno.test("slip: memory refused drops that frame only, the next one passes", () => {
  const { state, grant } = ledger(50_000);
  const decoder = new SlipDecoder({ maxPacketBytes: 1 << 20, grant });
  const out: Deframed[] = [];
  const big = encodeSlipFrame(packet(200_000));
  for (let at = 0; at < big.length; at += 10_000) decoder.push(big.slice(at, at + 10_000), out);
  assert.equal(out.length, 1);
  assert.ok(out[0] instanceof ServerBusyError && !out[0].fatal);
  assert.equal(state.held, 0, "the dropped frame holds nothing");
  const small = packet(20_000);
  const frame = encodeSlipFrame(small);
  decoder.push(frame.slice(0, 7000), out);
  decoder.push(frame.slice(7000), out);
  assert.equal(out.length, 2);
  assert.deepEqual(out[1], small);
  assert.equal(state.held, 0);
});

Deno.test("GatherBuffer: grows at least twofold, never past its cap; a refusal changes nothing", () => {
  const { state, grant } = ledger(5000);
  const gather = new GatherBuffer(grant);
  assert.ok(gather.reserve(1500, 3000));
  assert.equal(gather.capacity, 3000, "capped");
  const doubling = new GatherBuffer();
  assert.ok(doubling.reserve(2000, 1 << 20));
  assert.equal(doubling.capacity, 4000, "twice what is needed");
  assert.ok(doubling.reserve(300_000, 1 << 20));
  assert.equal(doubling.capacity, 1 << 20, "within a factor of two of the cap: the cap");
  gather.append(new Uint8Array(1500).fill(9), 0, 1500);
  const before = gather.capacity;
  assert.ok(!new GatherBuffer(grant).reserve(2500, 1 << 20), "over the ledger's limit");
  assert.equal(gather.capacity, before);
  assert.equal(state.held, 3000);
  gather.clear();
  assert.equal(state.held, 0);
});

Deno.test("GatherBuffer: from a 64 KiB cap it grows in place; clear gives the pages back at once, take leaves the packet whole", () => {
  const { state, grant } = ledger();
  const gather = new GatherBuffer(grant);
  assert.ok(gather.reserve(10_000, 1 << 20));
  gather.append(new Uint8Array(10_000).fill(1), 0, 10_000);
  const first = gather.bytes.buffer;
  assert.ok(first.resizable, "a resizable buffer");
  assert.ok(gather.reserve(300_000, 1 << 20));
  assert.equal(gather.bytes.buffer, first, "grown in place: no copy, no garbage");
  assert.equal(gather.capacity, 1 << 20);
  assert.equal(gather.bytes[9_999], 1, "the bytes held stay");
  gather.clear();
  assert.equal(first.byteLength, 0, "cleared: its memory went back at once");
  assert.equal(state.held, 0);

  assert.ok(gather.reserve(100_000, 1 << 20));
  gather.append(new Uint8Array(100_000).fill(7), 0, 100_000);
  const packet = gather.take();
  assert.equal(packet.length, 100_000);
  assert.equal(packet[99_999], 7, "a taken packet is never released under its holder");
  assert.equal(state.held, 0);
  gather.clear();
  assert.equal(packet.length, 100_000);

  const small = new GatherBuffer();
  assert.ok(small.reserve(100, 4096));
  assert.ok(!small.bytes.buffer.resizable, "below 64 KiB: a plain buffer");
});
