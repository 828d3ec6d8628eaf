/** The shared read path: BYOB reads into one buffer, through a DeframerStream, to a handler. */
import assert from "node:assert/strict";
import type { Deframed } from "../../lib/framing/errors.ts";
import { encodeLengthPrefixFrame, LengthPrefixDecoder } from "../../lib/framing/length_prefix.ts";
import { readDeframed } from "../../lib/framing/read_deframed.ts";
import { SlipDecoder } from "../../lib/framing/slip.ts";
import { hex, toHex } from "../hex.ts";

/** A connected pair of TCP sockets on an ephemeral port. */
async function tcpPair(): Promise<{ client: Deno.TcpConn; server: Deno.TcpConn }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  return { client, server };
}

/** A byte stream over `total` bytes that fills every view it is given completely (a bulk sender). */
function fullReads(total: number): ReadableStream<Uint8Array> {
  let left = total;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      const view = controller.byobRequest!.view!;
      const n = Math.min(left, view.byteLength);
      left -= n;
      if (n === 0) controller.close();
      new Uint8Array(view.buffer, view.byteOffset, n).fill(0xc0);
      controller.byobRequest!.respond(n);
    },
  });
}

const sum = (bytes: Uint8Array) => bytes.reduce((a, b, i) => (a * 31 + b * (i + 1)) % 1_000_000_007, 0);

const packet = (i: number, size = 8) => {
  const bytes = new Uint8Array(size);
  for (let k = 8; k < size; k++) bytes[k] = (i + k) & 0xff;
  bytes.set([0x2f, 0x70, 0, 0]);
  new DataView(bytes.buffer).setUint32(4, i);
  return bytes;
};

for (const kind of ["connection", "readable"] as const) {
  Deno.test(`readDeframed over TCP (${kind}): every packet in order across odd splits, the handler awaited, a mid-frame end reported`, async () => {
    const { client, server } = await tcpPair();
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) sent.push(packet(i, i === 150 ? 40_000 : 8));
    const bytes = new Uint8Array(sent.reduce((n, p) => n + p.length + 4, 0) + 3);
    let at = 0;
    for (const p of sent) {
      bytes.set(encodeLengthPrefixFrame(p), at);
      at += p.length + 4;
    }
    bytes.set([0, 0, 0], at); // a header cut short: the end reports it
    const writing = (async () => {
      for (let from = 0; from < bytes.length;) {
        const to = Math.min(bytes.length, from + 1 + (from * 7919) % 3000);
        await client.write(bytes.subarray(from, to));
        from = to;
        if (from % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      client.close();
    })();
    const got: string[] = [];
    const errors: Deframed[] = [];
    let batches = 0;
    const source = kind === "connection" ? server : server.readable;
    const end = await readDeframed(source, new LengthPrefixDecoder({ maxPacketBytes: 65536 }), async (batch) => {
      batches++;
      // The packets are views of the read buffer: the next read must wait for this handler.
      if (batches % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      for (const item of batch) {
        // Every byte, and a sum: a packet that kept a view of the reused buffer would change.
        if (item instanceof Uint8Array) got.push(toHex(item.subarray(0, 8)) + "/" + item.length + "/" + sum(item));
        else errors.push(item);
      }
    });
    await writing;
    assert.equal(end, "ended");
    assert.deepEqual(got, sent.map((p) => toHex(p.subarray(0, 8)) + "/" + p.length + "/" + sum(p)));
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof Error && errors[0].name === "BadFrameError");
    // At its end, a Deno connection's readable closes the connection's resource itself.
    if (kind === "readable") assert.throws(() => server.close(), Deno.errors.BadResource);
    else server.close();
  });
}

Deno.test("readDeframed: a handler returning false stops it and releases the reader; a picker returning nothing too", async () => {
  const { client, server } = await tcpPair();
  await client.write(hex("c0 2f 61 00 00 c0 c0 2f 62 00 00 c0"));
  let calls = 0;
  const end = await readDeframed(server.readable, new SlipDecoder({ maxPacketBytes: 64 }), () => {
    calls++;
    return false;
  });
  assert.equal(end, "stopped");
  assert.equal(calls, 1);
  assert.equal(server.readable.locked, false, "the caller may cancel the stream or close the connection");
  await client.write(hex("c0 2f 63 00 00 c0"));
  const stopsLater = await readDeframed(server, new SlipDecoder({ maxPacketBytes: 64 }), async () => {
    calls++;
    await Promise.resolve();
    return false;
  });
  assert.equal(stopsLater, "stopped");
  assert.equal(calls, 2, "an async handler's false stops it too");
  server.close();

  const pair = await tcpPair();
  await pair.client.write(hex("41 42 43 44"));
  const firstBytes: number[] = [];
  const stopped = await readDeframed(pair.server.readable, (first) => {
    firstBytes.push(first);
    return undefined;
  }, () => {
    throw new Error("no batch without a decoder");
  });
  assert.equal(stopped, "stopped");
  assert.deepEqual(firstBytes, [0x41]);
  pair.server.close();
  client.close();
  pair.client.close();
});

/** A reader over `total` bytes that fills every buffer it is given completely. */
function fullReader(total: number) {
  let left = total;
  return {
    read(buffer: Uint8Array): Promise<number | null> {
      const n = Math.min(left, buffer.length);
      left -= n;
      buffer.fill(0xc0, 0, n);
      return Promise.resolve(n === 0 ? null : n);
    },
  };
}

for (const kind of ["connection", "readable"] as const) {
  Deno.test(`readDeframed (${kind}): the buffer grows to the bulk size once a read fills it, only when allowed`, async () => {
    const sizes = async (mayGrow: () => boolean) => {
      const seen: number[] = [];
      const source = kind === "connection" ? fullReader(1000) : fullReads(1000);
      await readDeframed(source, new SlipDecoder({ maxPacketBytes: 64 }), (_batch, n) => {
        if (n > 0) seen.push(n);
      }, { bufferBytes: 16, bulkBufferBytes: 64, mayGrow });
      return seen;
    };
    let asked = 0;
    const grown = await sizes(() => (asked++, true));
    assert.deepEqual(grown.slice(0, 3), [16, 64, 64]);
    assert.equal(grown.reduce((a, b) => a + b), 1000);
    assert.equal(asked, 1, "asked once, then the buffer is bulk");
    const refused = await sizes(() => false);
    assert.ok(refused.every((n) => n <= 16));
    assert.equal(refused.length, Math.ceil(1000 / 16));
  });
}

Deno.test("readDeframed: a connection reset rejects; a handler's exception propagates", async () => {
  const { client, server } = await tcpPair();
  await client.write(hex("00 00 00 04 2f 61 00 00"));
  await assert.rejects(
    readDeframed(server.readable, new LengthPrefixDecoder({ maxPacketBytes: 64 }), () => {
      throw new TypeError("handler bug");
    }),
    /handler bug/,
  );
  await client.write(hex("00 00 00 04 2f 61 00 00"));
  await assert.rejects(
    readDeframed(server, new LengthPrefixDecoder({ maxPacketBytes: 64 }), () => {
      throw new TypeError("handler bug");
    }),
    /handler bug/,
  );
  const failing = { read: () => Promise.reject(new Deno.errors.ConnectionReset("reset by peer")) };
  await assert.rejects(
    readDeframed(failing, new LengthPrefixDecoder({ maxPacketBytes: 64 }), () => {}),
    Deno.errors.ConnectionReset,
  );
  server.close();
  client.close();
});
