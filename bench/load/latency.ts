/** Latency samples (microseconds) and their percentiles. */

export class Latencies {
  #samples: Float64Array;
  #count = 0;
  #seen = 0;

  constructor(capacity = 2_000_000) {
    this.#samples = new Float64Array(capacity);
  }

  add(us: number): void {
    this.#seen++;
    if (this.#count < this.#samples.length) {
      this.#samples[this.#count++] = us;
    } else {
      // reservoir sampling keeps a uniform sample once full
      const j = Math.floor(Math.random() * this.#seen);
      if (j < this.#samples.length) this.#samples[j] = us;
    }
  }

  get count(): number {
    return this.#seen;
  }

  summary(): { p50: number; p90: number; p99: number; p999: number; max: number } {
    const sorted = this.#samples.slice(0, this.#count).sort();
    const at = (q: number) =>
      sorted.length === 0 ? NaN : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) };
  }
}
