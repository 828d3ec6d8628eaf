/** Checks every delivery: lost, duplicated, reordered; and records latency. */
import { Latencies } from "./latency.ts";

export class Tracker {
  /** Where latencies go; a scenario may swap it to compare phases. */
  latencies = new Latencies();
  delivered = 0;
  duplicated = 0;
  reordered = 0;
  #next: Int32Array;
  #last: Int32Array;
  #missing = new Map<number, Set<number>>();
  #senders: number;
  #sampleEvery: number;

  /** Client indices go from 0 to clients-1; a client may be a sender, a receiver, or both. */
  constructor(clients: number, sampleEvery = 1) {
    this.#senders = clients;
    this.#next = new Int32Array(clients * clients);
    this.#last = new Int32Array(clients * clients).fill(-1);
    this.#sampleEvery = sampleEvery;
  }

  record(receiver: number, sender: number, seq: number, latencyUs: number): void {
    this.delivered++;
    const key = receiver * this.#senders + sender;
    const next = this.#next[key]!;
    if (seq === next) {
      this.#next[key] = next + 1;
    } else if (seq > next) {
      let missing = this.#missing.get(key);
      if (!missing) this.#missing.set(key, missing = new Set());
      for (let s = next; s < seq && missing.size < 1_000_000; s++) missing.add(s);
      this.#next[key] = seq + 1;
    } else {
      const missing = this.#missing.get(key);
      if (missing?.delete(seq)) this.reordered++;
      else this.duplicated++;
    }
    if (seq > this.#last[key]!) this.#last[key] = seq;
    if (seq % this.#sampleEvery === 0) this.latencies.add(latencyUs);
  }

  /** Highest sequence number `receiver` has seen from `sender` (-1 for none). */
  lastSeq(receiver: number, sender: number): number {
    return this.#last[receiver * this.#senders + sender]!;
  }

  /** Messages that never arrived (gaps, plus everything after the last one seen). */
  lost(expectedPerPair: (receiver: number, sender: number) => number): number {
    let lost = 0;
    for (let r = 0; r < this.#senders; r++) {
      for (let s = 0; s < this.#senders; s++) {
        const expected = expectedPerPair(r, s);
        if (expected === 0) continue;
        const key = r * this.#senders + s;
        lost += (this.#missing.get(key)?.size ?? 0) + Math.max(0, expected - this.#next[key]!);
      }
    }
    return lost;
  }
}
