/**
 * One client is read at most 32 MiB/s after a 4 MiB burst, and its packets queue at most 128 MiB/s for others after a
 * 1 MiB burst: a flooder cannot hold the router's CPU, nor make it write a gigabyte to a crowd in a second.
 */
import assert from "node:assert/strict";
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { eventually, withServer } from "./harness.ts";
import { TestClient } from "./test_client.ts";

const MiB = 1024 * 1024;

Deno.test("read rate: 20 MiB from one client take at least (20 - 4) / 32 s to be read; a small client is not held", async () => {
  await withServer({}, async ({ server, lp }) => {
    const flooder = await TestClient.connect(lp);
    const other = await TestClient.connect(lp);
    try {
      await flooder.register("flooder", "alone");
      await other.register("other", "elsewhere");
      const frame = encodeLengthPrefixFrame(
        encodeMessage({ address: "/spam", args: [{ type: "b", value: new Uint8Array(1000) }] }),
      );
      const burst = new Uint8Array(frame.length * 1024); // ~1 MiB
      for (let k = 0; k < 1024; k++) burst.set(frame, k * frame.length);
      const total = 20 * burst.length; // bytes sent
      const packetBytes = 20 * 1024 * (frame.length - 4); // what the router counts: packets, not their prefixes
      const before = server.router.counters.bytesIn;
      const started = performance.now();
      const sending = (async () => {
        for (let i = 0; i < 20; i++) await flooder.sendRaw(burst);
      })();
      // Meanwhile another client's packet goes through at once.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const pingAt = performance.now();
      await other.sendMsg("/oscrouter/userlist");
      await other.nextMessage();
      const otherMs = performance.now() - pingAt;
      await eventually(() => server.router.counters.bytesIn - before >= packetBytes, "all bytes read", 10_000);
      const elapsedMs = performance.now() - started;
      await sending;
      const floorMs = ((total / MiB - 4) / 32) * 1000;
      assert.ok(
        elapsedMs >= floorMs * 0.9,
        `read in ${elapsedMs.toFixed(0)} ms, faster than the limit (${floorMs} ms)`,
      );
      assert.ok(otherMs < 1000, `the other client waited ${otherMs.toFixed(0)} ms`);
    } finally {
      flooder.close();
      other.close();
    }
  });
});

Deno.test("delivery rate: 4 MiB sent to a group of 32 (128 MiB queued) take at least (128 - 1) / 128 s to be read", async () => {
  // Queues and budget large enough that nobody is cut: only the delivery rate can slow the sender down.
  const options = { maxQueueBytes: 64 * MiB, maxMemoryBytes: 1024 * MiB, maxConnectionsPerAddress: 64 };
  await withServer(options, async ({ server, lp }) => {
    const members: TestClient[] = [];
    const flooder = await TestClient.connect(lp);
    try {
      for (let i = 0; i < 32; i++) {
        members.push(await TestClient.connect(lp));
        await members[i]!.register(`m${i}`, "crowd");
      }
      await flooder.register("flooder", "crowd");
      const frame = encodeLengthPrefixFrame(
        encodeMessage({ address: "/spam", args: [{ type: "b", value: new Uint8Array(1000) }] }),
      );
      const burst = new Uint8Array(frame.length * 1024); // ~1 MiB
      for (let k = 0; k < 1024; k++) burst.set(frame, k * frame.length);
      const packetBytes = 4 * 1024 * (frame.length - 4);
      const queuedMiB = (32 * 4 * burst.length) / MiB; // each member's outbox takes every frame, prefix included
      const before = server.router.counters.bytesIn;
      const started = performance.now();
      for (let i = 0; i < 4; i++) await flooder.sendRaw(burst);
      await eventually(() => server.router.counters.bytesIn - before >= packetBytes, "all bytes read", 20_000);
      const elapsedMs = performance.now() - started;
      const floorMs = ((queuedMiB - 1) / 128) * 1000;
      assert.ok(
        elapsedMs >= floorMs * 0.9,
        `read in ${elapsedMs.toFixed(0)} ms, faster than the delivery limit allows (${floorMs.toFixed(0)} ms)`,
      );
    } finally {
      flooder.close();
      for (const member of members) member.close();
    }
  });
});

Deno.test("large partial packets: 16 uploads of 1 MiB at once are read at most 32 MiB/s together, after 4 MiB", async () => {
  const options = { maxConnectionsPerAddress: 32, maxUnregisteredPerAddress: 32 };
  await withServer(options, async ({ lp }) => {
    const packet = encodeMessage({ address: "/big", args: [{ type: "b", value: new Uint8Array(MiB - 16) }] });
    const frame = encodeLengthPrefixFrame(packet);
    const uploaders = await Promise.all(Array.from({ length: 16 }, () => TestClient.connect(lp)));
    try {
      const started = performance.now();
      // Each is answered not_registered once the router has read its whole packet.
      const answers = uploaders.map(async (client) => {
        await client.sendRaw(frame);
        const [code] = await client.nextError(20_000);
        assert.equal(code, "not_registered");
      });
      await Promise.all(answers);
      const elapsedMs = performance.now() - started;
      const floorMs = ((16 * frame.length / MiB - 4) / 32) * 1000;
      assert.ok(
        elapsedMs >= floorMs * 0.9,
        `16 MiB read in ${elapsedMs.toFixed(0)} ms, faster than the shared limit (${floorMs.toFixed(0)} ms)`,
      );
    } finally {
      for (const client of uploaders) client.close();
    }
  });
});
