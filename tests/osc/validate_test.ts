import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { decodePacket, encodeBundle, encodeMessage, encodePacket } from "../../lib/osc/codec.ts";
import { OscDecodeError } from "../../lib/osc/errors.ts";
import { bundleMessages, isControlAddress, PACKET_BUNDLE, PACKET_CONTROL, scanPacket } from "../../lib/osc/validate.ts";
import { oscString } from "../hex.ts";
import { packet } from "./arbitrary.ts";

const msg = (address: string) => ({ address, args: [] });

Deno.test("scanPacket: classifies messages, control messages and bundles", () => {
  assert.equal(scanPacket(encodeMessage(msg("/note"))), 0);
  assert.equal(scanPacket(encodeMessage(msg("/oscrouter/ping"))), PACKET_CONTROL);
  assert.equal(scanPacket(encodeMessage(msg("/oscrouter"))), PACKET_CONTROL);
  assert.equal(scanPacket(encodeMessage(msg("/oscrouterish"))), 0);
  assert.equal(scanPacket(encodeMessage(msg("/x/oscrouter/ping"))), 0);
  assert.equal(scanPacket(encodeBundle({ timetag: 1n, elements: [msg("/a")] })), PACKET_BUNDLE);
  assert.equal(scanPacket(encodeBundle({ timetag: 1n, elements: [] })), PACKET_BUNDLE);
  const deep = encodeBundle({
    timetag: 1n,
    elements: [msg("/a"), { timetag: 5n, elements: [{ timetag: 1n, elements: [msg("/oscrouter/register")] }] }],
  });
  assert.equal(scanPacket(deep), PACKET_BUNDLE | PACKET_CONTROL);
});

Deno.test("scanPacket: '#bundle' must be followed by its NUL: '#bundleX' is neither a bundle nor a message", () => {
  const timetag = [0, 0, 0, 0, 0, 0, 0, 1];
  const good = Uint8Array.from([...new TextEncoder().encode("#bundle"), 0, ...timetag]);
  assert.equal(scanPacket(good), PACKET_BUNDLE);
  const bad = Uint8Array.from([...new TextEncoder().encode("#bundleX"), ...timetag]);
  assert.throws(() => scanPacket(bad), OscDecodeError);
  assert.throws(() => decodePacket(bad), OscDecodeError);
});

Deno.test("isControlAddress: exact prefix /oscrouter then / or end", () => {
  assert.ok(isControlAddress(oscString("/oscrouter/private"), 0));
  assert.ok(!isControlAddress(oscString("/OSCROUTER/ping"), 0));
  assert.ok(!isControlAddress(oscString("/osc"), 0));
});

Deno.test("bundleMessages: depth-first, in order, as views", () => {
  const bytes = encodeBundle({
    timetag: 1n,
    elements: [
      msg("/1"),
      { timetag: 2n, elements: [msg("/2"), { timetag: 3n, elements: [msg("/3")] }, msg("/4")] },
      msg("/5"),
    ],
  });
  const addresses = [...bundleMessages(bytes)].map((m) => (decodePacket(m) as { address: string }).address);
  assert.deepEqual(addresses, ["/1", "/2", "/3", "/4", "/5"]);
  const first = bundleMessages(bytes).next().value!;
  assert.equal(first.buffer, bytes.buffer, "a view, not a copy");
});

Deno.test("scanPacket property: accepts every encoded packet, with the right flags", () => {
  fc.assert(
    fc.property(packet, (p) => {
      const flags = scanPacket(encodePacket(p));
      assert.equal((flags & PACKET_BUNDLE) !== 0, "timetag" in p);
    }),
    { numRuns: 500 },
  );
});

Deno.test("scanPacket property: agrees with decodePacket on arbitrary and mutated bytes", () => {
  const mutated = fc.tuple(packet, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([p, at, value]) => {
    const bytes = encodePacket(p);
    bytes[at % bytes.length] = value;
    return bytes;
  });
  fc.assert(
    fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 64 })), (bytes) => {
      let scanError: unknown;
      try {
        scanPacket(bytes);
      } catch (e) {
        scanError = e;
      }
      try {
        decodePacket(bytes);
        assert.equal(scanError, undefined, "decode accepted what scan rejected");
      } catch (e) {
        assert.ok(e instanceof OscDecodeError);
        // Decoding is stricter only about UTF-8, which the router leaves to receivers.
        if (scanError === undefined) assert.match(e.reason, /UTF-8/);
        else assert.ok(scanError instanceof OscDecodeError);
      }
    }),
    { numRuns: 3000 },
  );
});
