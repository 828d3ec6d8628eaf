/**
 * One growing buffer for the part of a packet that spans reads.
 *
 * @module
 */

/**
 * Asks for `deltaBytes` more memory (true: granted) or gives some back (negative; the answer is
 * ignored). A decoder calls it before it grows its buffer, so a shared memory budget can refuse
 * the growth before the memory is allocated.
 */
export type BufferGrant = (deltaBytes: number) => boolean;

/** Smallest buffer allocated for a spanning packet. */
const MIN_CAPACITY_BYTES = 1024;
/**
 * From this cap on, the buffer is one resizable `ArrayBuffer` that grows in place: growing leaves
 * no garbage and copies nothing. With plain buffers, each growth left its predecessor as garbage
 * that the memory budget no longer counted but the process held until V8 collected it (hundreds
 * of clients sending 1 MiB packets: hundreds of MiB). Below it, plain buffers (a resizable one
 * costs a reservation of its cap's address space, and small packets are cheap to copy).
 */
const IN_PLACE_MIN_CAP_BYTES = 64 * 1024;

/**
 * A byte buffer that grows geometrically as bytes arrive, never past a cap, and reports every
 * change of its capacity to a grant. The bytes it holds cost their capacity, not a piece per read.
 *
 * Each growth takes twice what is needed, or the cap itself once that is within a factor of two,
 * so a packet trickled one byte per read costs at most four times the bytes received (at least
 * 1 KiB). With a cap of 64 KiB or more the buffer grows in place (a resizable `ArrayBuffer` whose
 * maximum is the cap): no copy, and no garbage left behind by growing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GatherBuffer } from "./gather_buffer.ts";
 * let granted = 0;
 * const gather = new GatherBuffer((delta) => { granted += delta; return true; });
 * assert.ok(gather.reserve(3, 10_000));
 * gather.append(new Uint8Array([1, 2, 3]), 0, 3);
 * assert.equal(gather.capacity, 1024);
 * assert.equal(granted, 1024);
 * assert.deepEqual([...gather.take()], [1, 2, 3]);
 * assert.equal(granted, 0);
 * ```
 */
export class GatherBuffer {
  #bytes: Uint8Array<ArrayBuffer> | undefined;
  /** Bytes filled. */
  length = 0;
  #grant: BufferGrant | undefined;

  /**
   * An empty buffer.
   *
   * @param grant asked before each growth, told of each release; omit for no accounting
   */
  constructor(grant?: BufferGrant) {
    this.#grant = grant;
  }

  /** Bytes allocated (what holding the buffer costs). */
  get capacity(): number {
    return this.#bytes?.length ?? 0;
  }

  /** The whole allocated buffer, for callers that write into it (`length` says how much is filled). */
  get bytes(): Uint8Array<ArrayBuffer> {
    return this.#bytes!;
  }

  /**
   * Makes room for `neededBytes` in all: the capacity at least doubles when it grows, and never
   * passes `capBytes` (the announced size of the packet, or the packet size limit); within a factor
   * of two of the cap it goes straight to the cap.
   *
   * @param neededBytes the total the buffer must be able to hold
   * @param capBytes the most it may ever hold (at least `neededBytes`)
   * @returns false if the grant refused the growth (nothing changed)
   */
  reserve(neededBytes: number, capBytes: number): boolean {
    const capacity = this.capacity;
    if (neededBytes <= capacity) return true;
    let next = Math.max(MIN_CAPACITY_BYTES, 2 * neededBytes);
    if (2 * next > capBytes) next = capBytes;
    if (this.#grant !== undefined && !this.#grant(next - capacity)) return false;
    const buffer = this.#bytes?.buffer;
    if (buffer !== undefined && buffer.resizable && next <= buffer.maxByteLength) {
      buffer.resize(next); // in place; the length-tracking view follows
    } else if (capBytes >= IN_PLACE_MIN_CAP_BYTES) {
      const grown = new Uint8Array(new ArrayBuffer(next, { maxByteLength: capBytes }));
      if (this.#bytes !== undefined && this.length > 0) grown.set(this.#bytes.subarray(0, this.length));
      this.#bytes = grown;
    } else {
      const grown = new Uint8Array(next);
      if (this.#bytes !== undefined && this.length > 0) grown.set(this.#bytes.subarray(0, this.length));
      this.#bytes = grown;
    }
    return true;
  }

  /**
   * Copies `source[start, stop)` after the bytes held; `reserve` must have made room.
   *
   * @param source bytes to copy from
   * @param start first byte
   * @param stop end (exclusive)
   */
  append(source: Uint8Array, start: number, stop: number): void {
    if (stop === start) return;
    this.#bytes!.set(start === 0 && stop === source.length ? source : source.subarray(start, stop), this.length);
    this.length += stop - start;
  }

  /**
   * Hands over the bytes held and empties the buffer (its capacity is given back to the grant).
   *
   * @returns the bytes (a view of the buffer, which is no longer used)
   */
  take(): Uint8Array {
    const bytes = this.#bytes!;
    // A fixed-length view: the packet's length never follows the buffer's.
    const out = bytes.length === this.length && !bytes.buffer.resizable
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, this.length);
    // Handed out: not resized; its memory goes when the packet is dropped.
    this.#bytes = undefined;
    this.length = 0;
    this.#grant?.(-bytes.length);
    return out;
  }

  /**
   * Drops the bytes held and gives the capacity back. A buffer that grew in place gives its pages
   * back to the system at once (it was never handed out), instead of when V8 collects it: a
   * client cut off while holding a large partial packet leaves no garbage.
   */
  clear(): void {
    const capacity = this.capacity;
    const buffer = this.#bytes?.buffer;
    if (buffer !== undefined && buffer.resizable) giveBack(buffer);
    this.#bytes = undefined;
    this.length = 0;
    if (capacity > 0) this.#grant?.(-capacity);
  }
}

/**
 * Most time one turn of the event loop spends giving pages back (ms). A 1 MiB buffer takes about
 * 0.3 ms to give back: 130 clients cut at once held the loop for 36 ms, 250 gone at once for
 * 49 ms (the hostile suite's partial frames); past this, the rest go back over the next turns.
 */
const GIVE_BACK_SLICE_MS = 2;
let sliceStartedAt = -Infinity;
let sliceSpentMs = 0;
const backlog: ArrayBuffer[] = [];

/** Shrinks `buffer` to nothing now, or within a few turns when this turn has given back enough. */
function giveBack(buffer: ArrayBuffer): void {
  const now = performance.now();
  if (now - sliceStartedAt > 2 * GIVE_BACK_SLICE_MS) {
    sliceStartedAt = now;
    sliceSpentMs = 0;
  }
  if (backlog.length === 0 && sliceSpentMs < GIVE_BACK_SLICE_MS) {
    buffer.resize(0);
    sliceSpentMs += performance.now() - now;
    return;
  }
  backlog.push(buffer);
  if (backlog.length === 1) setTimeout(drainBacklog, 0);
}

/** Gives back what `giveBack` deferred, a slice per turn. */
function drainBacklog(): void {
  const start = performance.now();
  while (backlog.length > 0 && performance.now() - start < GIVE_BACK_SLICE_MS) backlog.shift()!.resize(0);
  if (backlog.length > 0) setTimeout(drainBacklog, 0);
}
