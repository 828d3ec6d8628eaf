/** The shared router client (lib/client) against a live router and against scripted peers. */
import assert from "node:assert/strict";
import { readPackets } from "../../lib/client/read_packets.ts";
import { RegisterError, RouterClient } from "../../lib/client/router_client.ts";
import { encodeFrame } from "../../lib/framing/by_framing.ts";
import type { Deframed } from "../../lib/framing/errors.ts";
import { FrameTooLargeError } from "../../lib/framing/errors.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import type { OscPacket } from "../../lib/osc/types.ts";
import { eventually, withServer } from "../server/harness.ts";
import { TestClient } from "../server/test_client.ts";

Deno.test("RouterClient: register, user list, send, receive, private, errors", async () => {
  await withServer({}, async ({ lp, slip }) => {
    const ana = await RouterClient.connect({ hostname: "127.0.0.1", port: lp });
    const bob = await RouterClient.connect({ hostname: "127.0.0.1", port: slip, framing: "slip" });
    const eve = await RouterClient.connect({ hostname: "127.0.0.1", port: lp });
    try {
      const got: OscPacket[] = [];
      bob.onMessage = (p) => got.push(p);
      assert.deepEqual(await ana.register({ user: "ana", password: "a", group: "band", groupPassword: "g" }), ["ana"]);
      assert.deepEqual(await bob.register({ user: "bob", password: "b", group: "band", groupPassword: "g" }), [
        "ana",
        "bob",
      ]);
      await eventually(() => ana.users.length === 2, "ana sees bob");
      await ana.send("/note", { type: "i", value: 60 });
      await ana.sendPrivate("bob", "whispa", { type: "s", value: "hi" });
      await eventually(() => got.length === 2, "bob receives both");
      assert.deepEqual(got[0], { address: "/note", args: [{ type: "i", value: 60 }] });
      assert.deepEqual(got[1], {
        address: "/oscrouter/private",
        args: [{ type: "s", value: "ana" }, { type: "s", value: "whispa" }, { type: "s", value: "hi" }],
      });
      const errors: string[] = [];
      eve.onError = (e) => errors.push(e.code);
      await assert.rejects(eve.register({ user: "ana", password: "guess", group: "band", groupPassword: "g" }));
      assert.deepEqual(errors, ["wrong_user_password"]);
    } finally {
      ana.close();
      bob.close();
      eve.close();
      await Promise.all([ana.closed, bob.closed, eve.closed]);
    }
  });
});

Deno.test("RouterClient: a refused register rejects with the router's code, sentence and context", async () => {
  await withServer({}, async ({ lp }) => {
    const owner = await TestClient.connect(lp);
    const client = await RouterClient.connect({ hostname: "127.0.0.1", port: lp });
    try {
      await owner.register("ana", "band", "a", "g");
      const seen: Uint8Array[] = [];
      client.onPacket = (p) => seen.push(p.slice());
      const error = await client.register({ user: "bob", password: "b", group: "band", groupPassword: "nope" }).then(
        () => assert.fail("registered with a wrong group password"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof RegisterError);
      assert.equal(error.code, "wrong_group_password");
      assert.equal(error.context, "/oscrouter/register");
      assert.match(error.reason, /password/);
      assert.equal(error.message, `wrong_group_password: ${error.reason}`);
      assert.equal(seen.length, 1, "the error packet also reaches onPacket");
    } finally {
      client.close();
      await client.closed;
      await owner.close();
    }
  });
});

Deno.test("RouterClient: the register reply is consumed, the user list reaches onPacket, id as string", async () => {
  await withServer({}, async ({ lp }) => {
    const client = await RouterClient.connect({ hostname: "127.0.0.1", port: lp });
    try {
      const seen: string[] = [];
      client.onPacket = (p) => seen.push(new TextDecoder().decode(p.subarray(0, p.indexOf(0))));
      assert.deepEqual(await client.register({ user: "ana", password: "a", group: "g", groupPassword: "g", id: "x" }), [
        "ana",
      ]);
      assert.deepEqual(seen, ["/oscrouter/userlist"]);
      assert.deepEqual(client.users, ["ana"]);
    } finally {
      client.close();
      await client.closed;
    }
  });
});

/** A peer that accepts one connection and runs `script` on it. */
async function withPeer(
  script: (conn: Deno.TcpConn) => Promise<void>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    try {
      await script(conn);
    } finally {
      try {
        conn.close();
      } catch {
        // closed by the script
      }
    }
  })();
  try {
    await body(listener.addr.port);
  } finally {
    await served;
    listener.close();
  }
}

Deno.test("RouterClient: a connection that ends before the answer rejects the register with `closed`", async () => {
  await withPeer(async (conn) => {
    await conn.read(new Uint8Array(1024)); // the register, then a close without a word
  }, async (port) => {
    const client = await RouterClient.connect({ hostname: "127.0.0.1", port });
    try {
      await assert.rejects(
        client.register({ user: "ana", password: "a", group: "g", groupPassword: "g" }),
        (e: unknown) => e instanceof RegisterError && e.code === "closed",
      );
    } finally {
      client.close();
      await client.closed;
    }
  });
});

Deno.test("RouterClient: writes go out whole and in order, SLIP framed, and pendingBytes returns to 0", async () => {
  const count = 2000;
  const received: number[] = [];
  await withPeer(async (conn) => {
    await readPackets(conn, "slip", { maxPacketBytes: 1024 }, (items) => {
      for (const item of items) {
        if (item instanceof Uint8Array) received.push(new DataView(item.buffer, item.byteOffset).getInt32(8));
      }
      return received.length < count;
    });
  }, async (port) => {
    const client = await RouterClient.connect({ hostname: "127.0.0.1", port, framing: "slip" });
    try {
      const sends = Array.from({ length: count }, (_, i) => client.send("/n", { type: "i", value: i }));
      assert.ok(client.pendingBytes > 0);
      await Promise.all(sends);
      assert.equal(client.pendingBytes, 0);
      await eventually(() => received.length === count, "the peer reads every packet");
      assert.deepEqual(received, Array.from({ length: count }, (_, i) => i));
    } finally {
      client.close();
      await client.closed;
    }
  });
});

Deno.test("RouterClient: a frame it cannot read goes to onFramingError, and a throw there stops reading", async () => {
  await withPeer(async (conn) => {
    await conn.write(encodeFrame("length-prefix", encodeMessage({ address: "/a", args: [] })));
    await conn.write(new Uint8Array([0x7f, 0, 0, 0])); // a 2 GiB frame
    await conn.write(encodeFrame("length-prefix", encodeMessage({ address: "/never", args: [] })));
    await conn.read(new Uint8Array(16)); // until the client closes
  }, async (port) => {
    const client = await RouterClient.connect({ hostname: "127.0.0.1", port, maxPacketBytes: 1024 });
    const errors: Error[] = [];
    const packets: number[] = [];
    client.onPacket = (p) => packets.push(p.length);
    client.onFramingError = (error) => {
      errors.push(error);
      throw error;
    };
    await client.closed; // reading stopped by the throw
    client.close();
    assert.equal(packets.length, 1);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof FrameTooLargeError);
  });
});

Deno.test("readPackets: packets split across reads, several per read, each read's in one call", async () => {
  const a = encodeFrame("length-prefix", new Uint8Array(8).fill(1));
  const b = encodeFrame("length-prefix", new Uint8Array(12).fill(2));
  const c = encodeFrame("length-prefix", new Uint8Array(4).fill(3));
  const stream = new Uint8Array([...a, ...b, ...c]);
  const cuts = [5, 12, stream.length]; // a's body split, then b and c whole in one read
  const chunks = cuts.map((end, i) => stream.subarray(i === 0 ? 0 : cuts[i - 1]!, end));
  const source = {
    read(buffer: Uint8Array): Promise<number | null> {
      buffer.fill(0xee); // a reused buffer: whatever was kept as a view is overwritten
      const chunk = chunks.shift();
      if (chunk === undefined) return Promise.resolve(null);
      buffer.set(chunk);
      return Promise.resolve(chunk.length);
    },
  };
  const calls: number[][] = [];
  const kept: Uint8Array[] = [];
  await readPackets(source, "length-prefix", { maxPacketBytes: 64 }, (items: readonly Deframed[]) => {
    calls.push(items.map((item) => item instanceof Uint8Array ? item.length : -1));
    for (const item of items) if (item instanceof Uint8Array) kept.push(item.slice());
  });
  assert.deepEqual(calls, [[], [8], [12, 4]]);
  assert.deepEqual(kept, [new Uint8Array(8).fill(1), new Uint8Array(12).fill(2), new Uint8Array(4).fill(3)]);
});

Deno.test("readPackets: returning false stops before the next read", async () => {
  let reads = 0;
  const frame = encodeFrame("slip", new Uint8Array([1, 2, 3, 4]));
  const source = {
    read(buffer: Uint8Array): Promise<number | null> {
      reads++;
      buffer.set(frame);
      return Promise.resolve(frame.length);
    },
  };
  let calls = 0;
  await readPackets(source, "slip", { maxPacketBytes: 64 }, () => ++calls < 3);
  assert.equal(calls, 3);
  assert.equal(reads, 3);
});
