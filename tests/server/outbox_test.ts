import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { type ByteSink, Outbox, SHARED_FRAME_MAX_BYTES } from "../../lib/server/outbox.ts";
import { join } from "../framing/frames.ts";

/** A sink that records writes; each write can be held until released, and may be partial. */
class FakeSink implements ByteSink {
  writes: Uint8Array[] = [];
  maxPerWrite = Infinity;
  #held: (() => void)[] = [];
  hold = false;
  fail: Error | undefined;
  /** The arrays passed to write, as given (to see what was written by reference). */
  given: Uint8Array[] = [];
  #onWrite: (() => void)[] = [];
  write(bytes: Uint8Array): Promise<number> {
    if (this.fail) return Promise.reject(this.fail);
    const n = Math.min(bytes.length, this.maxPerWrite);
    this.given.push(bytes);
    this.writes.push(bytes.slice(0, n));
    for (const resolve of this.#onWrite.splice(0)) resolve();
    if (!this.hold) return Promise.resolve(n);
    return new Promise((resolve) => this.#held.push(() => resolve(n)));
  }
  /** Resolves once `count` writes have started (no counting of microtasks). */
  async started(count: number): Promise<void> {
    while (this.writes.length < count) await new Promise<void>((resolve) => this.#onWrite.push(resolve));
  }
  release() {
    const held = this.#held;
    this.#held = [];
    for (const r of held) r();
  }
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

Deno.test("outbox: what is queued while a write is in flight goes out in one batched write", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  const outbox = new Outbox(sink, { maxQueueBytes: 1000, onOverflow: () => {}, onError: () => {} });
  outbox.push(bytes(10, 1));
  await sink.started(1); // a lone frame goes out at once
  assert.equal(sink.writes.length, 1);
  for (let i = 0; i < 5; i++) outbox.push(bytes(10, 2 + i));
  assert.equal(outbox.pendingBytes, 60);
  sink.hold = false;
  sink.release();
  await outbox.drained();
  assert.equal(sink.writes.length, 2);
  assert.deepEqual([...sink.writes[1]!].filter((_, i) => i % 10 === 0), [2, 3, 4, 5, 6], "in order");
  assert.equal(outbox.pendingBytes, 0);
});

Deno.test("outbox: partial writes are completed", async () => {
  const sink = new FakeSink();
  sink.maxPerWrite = 7;
  const outbox = new Outbox(sink, { maxQueueBytes: 1000, onOverflow: () => {}, onError: () => {} });
  outbox.push(Uint8Array.from({ length: 30 }, (_, i) => i));
  await outbox.drained();
  const all = sink.writes.flatMap((w) => [...w]);
  assert.deepEqual(all, Array.from({ length: 30 }, (_, i) => i));
});

Deno.test("outbox: past the bound it calls onOverflow once, drops its queue and refuses more", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  let overflows = 0;
  const outbox = new Outbox(sink, { maxQueueBytes: 100, onOverflow: () => overflows++, onError: () => {} });
  assert.ok(outbox.push(bytes(60)));
  assert.ok(outbox.push(bytes(40)));
  assert.ok(!outbox.push(bytes(1)), "101 bytes pending would pass the bound");
  assert.ok(!outbox.push(bytes(1)));
  assert.equal(overflows, 1);
  sink.release();
  await outbox.drained();
});

Deno.test("outbox: a write error stops it and is reported", async () => {
  const sink = new FakeSink();
  sink.fail = new Error("broken pipe");
  let reported: unknown;
  const outbox = new Outbox(sink, { maxQueueBytes: 100, onOverflow: () => {}, onError: (e) => reported = e });
  outbox.push(bytes(10));
  await outbox.drained();
  assert.equal((reported as Error).message, "broken pipe");
  assert.ok(!outbox.push(bytes(10)));
});

Deno.test("outbox: a backlog goes out in order, in 64 KiB writes; frames are copied at push", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  const outbox = new Outbox(sink, { maxQueueBytes: 4 << 20, onOverflow: () => {}, onError: () => {} });
  outbox.push(bytes(10, 255));
  await sink.started(1);
  const reused = bytes(10_000);
  for (let i = 0; i < 100; i++) {
    reused.fill(i);
    outbox.push(reused); // the caller reuses its buffer: the outbox must have copied
  }
  outbox.pushLengthPrefixed(bytes(100_000, 200));
  assert.equal(outbox.pendingBytes, 10 + 1_000_000 + 100_004);
  sink.hold = false;
  sink.release();
  await outbox.drained();
  assert.ok(sink.writes.every((w) => w.length <= 64 * 1024), "writes of at most 64 KiB");
  assert.ok(sink.writes.length <= 2 + Math.ceil(1_100_004 / 65536), `${sink.writes.length} writes`);
  const all = sink.writes.flatMap((w) => [...w]);
  assert.equal(all.length, 1_100_014);
  for (let i = 0; i < 100; i++) assert.equal(all[10 + i * 10_000], i, "order kept");
  assert.deepEqual(all.slice(1_000_010, 1_000_014), [0, 1, 0x86, 0xa0], "size prefix of 100,000");
  assert.equal(outbox.pendingBytes, 0);
});

Deno.test("outbox property: whatever the frame sizes, partial writes and timing, the bytes out are the bytes in", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.tuple(
          fc.integer({ min: 1, max: 150_000 }),
          fc.constantFrom("copy", "prefixed", "shared"),
          fc.nat({ max: 3 }),
        ),
        {
          minLength: 1,
          maxLength: 30,
        },
      ),
      fc.integer({ min: 1000, max: 100_000 }),
      async (frames, maxPerWrite) => {
        const sink = new FakeSink();
        sink.maxPerWrite = maxPerWrite;
        const outbox = new Outbox(sink, { maxQueueBytes: 1 << 30, onOverflow: () => {}, onError: () => {} });
        const expected: Uint8Array[] = [];
        let n = 0;
        for (const [size, kind, pauses] of frames) {
          // Shared frames are small, as the router's are (a packet's frame, built once).
          const frame = Uint8Array.from({ length: kind === "shared" ? size % 6000 + 1 : size }, () => n++ & 0xff);
          if (kind === "prefixed") {
            outbox.pushLengthPrefixed(frame);
            expected.push(Uint8Array.of(size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff));
          } else if (kind === "shared") {
            outbox.pushShared(frame);
          } else {
            outbox.push(frame);
          }
          expected.push(frame.slice());
          if (kind !== "shared") frame.fill(0); // the caller reuses its buffer (a shared frame never changes)
          for (let i = 0; i < pauses; i++) await Promise.resolve(); // let writes start mid-stream
        }
        await outbox.drained();
        const out = join(sink.writes);
        const want = join(expected);
        assert.equal(out.length, want.length);
        assert.ok(out.every((b, i) => b === want[i]), "bytes differ");
        assert.equal(outbox.pendingBytes, 0);
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("outbox: an idle outbox writes a small shared frame as it is, with no chunk; what follows goes after it", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  let held = 0;
  const outbox = new Outbox(sink, {
    maxQueueBytes: 1 << 20,
    onOverflow: () => {},
    onError: () => {},
    grant: (delta) => (held += delta, true),
  });
  const lone = bytes(36, 7);
  assert.ok(outbox.idle);
  assert.ok(outbox.pushShared(lone));
  assert.ok(!outbox.idle);
  assert.equal(held, 0, "no chunk for a lone shared frame");
  await sink.started(1);
  assert.equal(sink.given[0], lone, "written by reference");
  // While it is being written, more frames are queued in chunks and go out after it.
  outbox.pushShared(bytes(8, 8));
  outbox.pushLengthPrefixed(bytes(4, 9));
  assert.equal(held, 64 * 1024);
  assert.equal(outbox.pendingBytes, 36 + 8 + 8);
  sink.hold = false;
  sink.release();
  await outbox.drained();
  assert.deepEqual(sink.writes.map((w) => w.length), [36, 16]);
  assert.equal(held, 0);

  // Pushed in the same task before its write starts, a shared frame joins the batch: one write.
  const batch = new Outbox(sink, { maxQueueBytes: 1 << 20, onOverflow: () => {}, onError: () => {} });
  sink.writes = [];
  batch.pushShared(bytes(36, 1));
  batch.push(bytes(10, 2));
  await batch.drained();
  assert.deepEqual(sink.writes.map((w) => [w.length, w[0], w[36]]), [[46, 1, 2]]);

  // A partial write of a shared frame is completed before the rest; large shared frames are copied.
  const partial = new Outbox(sink, { maxQueueBytes: 1 << 20, onOverflow: () => {}, onError: () => {} });
  sink.writes = [];
  sink.given = [];
  sink.maxPerWrite = 10;
  const frame = Uint8Array.from({ length: 25 }, (_, i) => i);
  partial.pushShared(frame);
  await partial.drained();
  assert.deepEqual([...join(sink.writes)], [...frame]);
  assert.equal(sink.writes.length, 3);
  sink.maxPerWrite = Infinity;
  const large = bytes(SHARED_FRAME_MAX_BYTES + 1);
  partial.pushShared(large);
  await partial.drained();
  assert.notEqual(sink.given.at(-1), large, "copied into a chunk");
});

Deno.test("outbox: a shared frame counts against the queue bound, and stop drops it", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  const causes: string[] = [];
  const outbox = new Outbox(sink, { maxQueueBytes: 30, onOverflow: (c) => causes.push(c), onError: () => {} });
  assert.ok(!outbox.pushShared(bytes(31)));
  assert.deepEqual(causes, ["queue"]);
  const other = new Outbox(sink, { maxQueueBytes: 30, onOverflow: (c) => causes.push(c), onError: () => {} });
  assert.ok(other.pushShared(bytes(20)));
  assert.ok(!other.pushShared(bytes(20)), "20 + 20 passes the bound of 30");
  assert.equal(other.pendingBytes, 0);
  sink.release();
  await other.drained();
});

Deno.test("outbox: chunks are granted before they are taken and given back once written", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  let held = 0;
  const grants: number[] = [];
  const outbox = new Outbox(sink, {
    maxQueueBytes: 1 << 20,
    onOverflow: () => {},
    onError: () => {},
    grant: (delta) => {
      grants.push(delta);
      held += delta;
      return true;
    },
  });
  outbox.push(bytes(10));
  assert.equal(held, 64 * 1024, "one chunk for a small frame");
  outbox.push(bytes(100_000));
  assert.equal(held, 2 * 64 * 1024, "the frame spills into a second chunk");
  assert.equal(outbox.heldBytes, held);
  sink.hold = false;
  sink.release();
  await outbox.drained();
  assert.equal(held, 0, "everything given back once written");
  assert.equal(outbox.heldBytes, 0);
});

Deno.test("outbox: a refused grant is an overflow (budget), and the outbox holds nothing after", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  let held = 0;
  const causes: string[] = [];
  const outbox = new Outbox(sink, {
    maxQueueBytes: 1 << 20,
    onOverflow: (cause) => causes.push(cause),
    onError: () => {},
    grant: (delta) => {
      if (delta > 0 && held + delta > 64 * 1024) return false;
      held += delta;
      return true;
    },
  });
  assert.ok(outbox.push(bytes(60_000)));
  await Promise.resolve(); // the write of the first chunk is in flight
  assert.ok(!outbox.push(bytes(10_000)), "a second chunk is refused");
  assert.deepEqual(causes, ["budget"]);
  assert.equal(held, 0, "stopping gave the chunk back to the grant");
  assert.ok(!outbox.push(bytes(1)));
  sink.release();
  await outbox.drained();
});

Deno.test("outbox: drained() resolves at once when idle, and when stopped mid-write (no spinning)", async () => {
  const sink = new FakeSink();
  const outbox = new Outbox(sink, { maxQueueBytes: 1000, onOverflow: () => {}, onError: () => {} });
  await outbox.drained();
  sink.hold = true;
  outbox.push(bytes(10));
  await Promise.resolve();
  let drained = false;
  const waiting = outbox.drained().then(() => drained = true);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assert.ok(!drained, "a write is still in flight");
  outbox.stop();
  sink.release();
  await waiting;
  assert.ok(drained);
});

Deno.test("outbox: stalledMs counts from the last progress while bytes are pending", async () => {
  const sink = new FakeSink();
  sink.hold = true;
  const outbox = new Outbox(sink, { maxQueueBytes: 1000, onOverflow: () => {}, onError: () => {} });
  assert.equal(outbox.stalledMs(performance.now() + 5000), 0, "nothing pending");
  outbox.push(bytes(10));
  const pushed = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.ok(outbox.stalledMs(performance.now()) >= 25);
  assert.ok(outbox.stalledMs(pushed + 10_000) >= 9_990);
  sink.hold = false;
  sink.release();
  await outbox.drained();
  assert.equal(outbox.stalledMs(performance.now() + 10_000), 0);
});
