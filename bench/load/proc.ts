/** Samples a process's resident memory and CPU time from /proc (Linux). */

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcSample {
  rssBytes: number;
  cpuSeconds: number;
  at: number;
}

export function sampleProcess(pid: number): ProcSample {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]), stime = Number(fields[12]);
  return { rssBytes: rssKb * 1024, cpuSeconds: (utime + stime) / CLOCK_TICKS_PER_SECOND, at: performance.now() };
}

/** Samples every `intervalMs` until stopped; reports start, max and end RSS and CPU use. */
export class ProcMonitor {
  #pid: number;
  #first: ProcSample;
  #last: ProcSample;
  #maxRss: number;
  #timer: ReturnType<typeof setInterval>;

  constructor(pid: number, intervalMs = 200) {
    this.#pid = pid;
    this.#first = this.#last = sampleProcess(pid);
    this.#maxRss = this.#first.rssBytes;
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): ProcSample {
    this.#last = sampleProcess(this.#pid);
    this.#maxRss = Math.max(this.#maxRss, this.#last.rssBytes);
    return this.#last;
  }

  get rssBytes(): number {
    return this.#last.rssBytes;
  }

  stop(): { rssStartMB: number; rssMaxMB: number; rssEndMB: number; cpuPercent: number } {
    clearInterval(this.#timer);
    const end = this.#sample();
    const mb = (b: number) => Math.round(b / 1024 / 1024 * 10) / 10;
    const seconds = (end.at - this.#first.at) / 1000;
    return {
      rssStartMB: mb(this.#first.rssBytes),
      rssMaxMB: mb(this.#maxRss),
      rssEndMB: mb(end.rssBytes),
      cpuPercent: Math.round((end.cpuSeconds - this.#first.cpuSeconds) / seconds * 1000) / 10,
    };
  }
}
