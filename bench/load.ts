/**
 * Load benchmark: starts a router (and a bare relay for the floor) as child processes,
 * drives them with real TCP clients, and prints one JSON line per scenario.
 *
 * usage: deno task bench:load [--runs N] [--only name,name] [--seconds S] [--ws-client raw|deno]
 *
 * Scenarios (issue #4): musical (10 users x 50 msgs/s), fanout (1 -> 10 flat out, length
 * prefix and SLIP), mesh (20 senders + 20 receivers flat out), groups (100 groups x 4 users
 * at 20 msgs/s), groups-250 (250 groups x 4 users at 20 msgs/s: 1,000 connections), churn
 * (1000 connect/register/disconnect cycles), slow (one receiver stops reading). Every message carries sender, sequence number and send time: loss, duplication
 * and reordering are counted, not assumed.
 */
import type { Framing } from "../lib/framing/detect.ts";
import { RouterClient } from "../lib/client/router_client.ts";
import { LoadClient } from "./load/client.ts";
import { ProcMonitor } from "./load/proc.ts";
import { Latencies } from "./load/latency.ts";
import { Tracker } from "./load/tracker.ts";
import { WsLoadClient } from "./load/ws_client.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const args = parseArgs(Deno.args);

function parseArgs(argv: string[]) {
  const get = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    runs: Number(get("--runs") ?? 1),
    only: get("--only")?.split(","),
    seconds: Number(get("--seconds") ?? 10),
    /** The `+wsproc` scenarios' WebSocket client: `raw` (frames walked per read) or `deno` (`WebSocket`). */
    wsClient: get("--ws-client") ?? "raw",
  };
}

type Target = "router" | "relay";

class Child {
  readonly process: Deno.ChildProcess;
  readonly lp: number;
  readonly slip: number;
  get http(): number {
    return this.slip + 1;
  }
  constructor(readonly target: Target, base: number) {
    this.lp = base;
    this.slip = base + 1;
    const script = target === "router"
      ? [
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        `${ROOT}main.ts`,
        "--host",
        "127.0.0.1",
        "--osc-port",
        String(this.lp),
        "--osc11-port",
        String(this.slip),
        "--log-level",
        "warning",
        "--max-connections",
        "2000",
        // Every client connects from 127.0.0.1: lift the per-address limits (default 32 and 8).
        "--max-connections-per-address",
        "2000",
        "--max-unregistered-per-address",
        "2000",
        "--max-registers-per-second", // the churn scenario registers thousands per second from 127.0.0.1
        "1000000",
        "--http-port",
        String(this.slip + 1),
      ]
      : ["--allow-net", `${ROOT}bench/bare_relay.ts`, String(this.lp), String(this.slip)];
    const cpuProf = Deno.env.get("LOAD_CPU_PROF");
    const v8Flags = Deno.env.get("LOAD_V8_FLAGS");
    this.process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...(cpuProf && target === "router" ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : []),
        ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
        ...script,
      ],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  }
  get pid(): number {
    return this.process.pid;
  }
  async ready(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.slip })).close();
        return;
      } catch {
        await sleep(25);
      }
    }
    throw new Error(`${this.target} did not start`);
  }
  async stop(): Promise<void> {
    this.process.kill("SIGINT");
    await this.process.status;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Result {
  scenario: string;
  target: Target;
  [key: string]: unknown;
}

async function connectAll(
  child: Child,
  count: number,
  framing: Framing,
  group: (i: number) => string,
): Promise<LoadClient[]> {
  const clients: LoadClient[] = [];
  for (let i = 0; i < count; i++) {
    const port = framing === "slip" ? child.slip : child.lp;
    clients.push(await LoadClient.connect(port, framing, i, `u${i}`, group(i), child.target === "relay"));
  }
  await sleep(200); // let user lists settle
  return clients;
}

async function closeAll(clients: LoadClient[]) {
  await Promise.all(clients.map((c) => c.close()));
}

async function connectWs(child: Child, firstIndex: number, count: number, group: string, tracker: Tracker) {
  const clients: WsLoadClient[] = [];
  for (let i = 0; i < count; i++) {
    const ws = await WsLoadClient.connect(child.http, firstIndex + i, `ws${i}`, group);
    ws.tracker = tracker;
    clients.push(ws);
  }
  return clients;
}

async function closeWs(clients: WsLoadClient[], tracker: Tracker, seconds: number) {
  if (clients.length === 0) return {};
  const cutOff = clients.filter((c) => c.closedByServer).length;
  await Promise.all(clients.map((c) => c.close()));
  return {
    websocket: {
      clients: clients.length,
      delivered: tracker.delivered,
      deliveriesPerSec: Math.round(tracker.delivered / seconds),
      cutOffAsSlowConsumers: cutOff,
      latencyUs: tracker.latencies.summary(),
    },
  };
}

function summarize(tracker: Tracker, expected: number, seconds: number, lost: number) {
  return {
    seconds: Math.round(seconds * 100) / 100,
    expected,
    delivered: tracker.delivered,
    deliveriesPerSec: Math.round(tracker.delivered / seconds),
    lost,
    duplicated: tracker.duplicated,
    reordered: tracker.reordered,
    latencyUs: tracker.latencies.summary(),
  };
}

/** Waits until `tracker` has `expected` deliveries or `ms` pass. */
async function drain(tracker: Tracker, expected: number, ms = 3000) {
  const deadline = Date.now() + ms;
  while (tracker.delivered < expected && Date.now() < deadline) await sleep(10);
}

/** Each client sends `rate` msgs/s (one write per message) for `seconds`; everyone receives. */
async function paced(child: Child, users: number, perGroup: number, rate: number, seconds: number, wsListeners = 0) {
  const clients = await connectAll(child, users, "length-prefix", (i) => `g${Math.floor(i / perGroup)}`);
  const tracker = new Tracker(users);
  for (const c of clients) c.tracker = tracker;
  const wsTracker = new Tracker(users + wsListeners);
  const wsClients = await connectWs(child, users, wsListeners, "g0", wsTracker);
  const monitor = new ProcMonitor(child.pid);
  const start = performance.now();
  const intervalMs = 1000 / rate;
  const total = Math.round(rate * seconds);
  // One timer drives every client, each at its own phase, so sends spread over the interval.
  await new Promise<void>((resolve) => {
    let tick = 0;
    const phases = clients.map((_, i) => (i / users) * intervalMs);
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      let done = true;
      for (let i = 0; i < users; i++) {
        const c = clients[i]!;
        const due = Math.min(total, Math.floor((elapsed - phases[i]!) / intervalMs) + 1);
        while (c.seq < due) c.writeAll(c.batch(1));
        if (c.seq < total) done = false;
      }
      tick++;
      if (done) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const fanout = perGroup - 1;
  const expected = users * total * fanout;
  await drain(tracker, expected);
  const elapsed = (performance.now() - start) / 1000;
  const lost = tracker.lost((r, s) => r !== s && Math.floor(r / perGroup) === Math.floor(s / perGroup) ? total : 0);
  const proc = monitor.stop();
  await closeAll(clients);
  const ws = await closeWs(wsClients, wsTracker, elapsed);
  return { ...summarize(tracker, expected, elapsed, lost), ...ws, router: proc };
}

/**
 * `senders` send flat out, each with at most `window` messages not yet seen by every other
 * client of the group; `receivers` only read. Senders are in the group too, so they also
 * receive each other's messages (fan-out = senders + receivers - 1).
 */
async function flatOut(
  child: Child,
  senders: number,
  receivers: number,
  framing: Framing,
  seconds: number,
  wsReceivers = 0,
  wsProcesses = 0,
) {
  const clients = await connectAll(child, senders + receivers, framing, () => "flat");
  const counters = await Promise.all(Array.from({ length: wsProcesses }, () => WsCounter.start(child.http, "flat")));
  const tracker = new Tracker(senders + receivers, 8);
  for (const c of clients) c.tracker = tracker;
  // WebSocket receivers are counted apart and do not pace the senders: a browser cannot take
  // a million messages a second, and the point is that the TCP clients do not notice it.
  const wsTracker = new Tracker(senders + receivers + wsReceivers, 8);
  const wsClients = await connectWs(child, senders + receivers, wsReceivers, "flat", wsTracker);
  const senderClients = clients.slice(0, senders);
  const window = senders === 1 ? 2000 : 400;
  const batch = window / 8;
  const wakers = new Set<() => void>();
  for (const c of clients) c.onProgress = () => wakers.forEach((w) => w());
  const monitor = new ProcMonitor(child.pid);
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(senderClients.map(async (s) => {
    while (performance.now() < end) {
      let acked = Infinity;
      for (const r of clients) if (r !== s) acked = Math.min(acked, tracker.lastSeq(r.index, s.index));
      if (s.seq - 1 - acked + batch > window) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            wakers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, 50);
          wakers.add(wake);
        });
        continue;
      }
      await s.writeAll(s.batch(batch));
    }
  }));
  const fanout = senders + receivers - 1;
  const sent = senderClients.reduce((n, s) => n + s.seq, 0);
  const expected = sent * fanout;
  await drain(tracker, expected);
  const elapsed = (performance.now() - start) / 1000;
  const lost = tracker.lost((r, s) => r !== s && s < senders ? clients[s]!.seq : 0);
  const proc = monitor.stop();
  await closeAll(clients);
  const ws = await closeWs(wsClients, wsTracker, elapsed);
  const wsProcess = counters.length === 0 ? {} : { wsProcesses: await Promise.all(counters.map((c) => c.stop())) };
  return { framing, fanout, ...summarize(tracker, expected, elapsed, lost), ...ws, ...wsProcess, router: proc };
}

/** A WebSocket receiver in its own process (bench/load/ws_counter.ts): it takes no CPU from this generator. */
class WsCounter {
  #reader: ReadableStreamDefaultReader<string>;
  #text = "";
  private constructor(readonly process: Deno.ChildProcess) {
    this.#reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }
  async #line(): Promise<string | undefined> {
    while (!this.#text.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) return undefined;
      this.#text += value;
    }
    const at = this.#text.indexOf("\n");
    const line = this.#text.slice(0, at);
    this.#text = this.#text.slice(at + 1);
    return line;
  }
  static async start(port: number, group: string): Promise<WsCounter> {
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", `${ROOT}bench/load/ws_counter.ts`, String(port), group, args.wsClient],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const counter = new WsCounter(process);
    await counter.#line(); // {"ready":true}: registered
    await sleep(200);
    return counter;
  }
  async stop(): Promise<unknown> {
    await this.process.stdin.close();
    const value = await this.#line();
    this.#reader.releaseLock();
    await this.process.status;
    return value === undefined ? { error: "no result" } : JSON.parse(value);
  }
}

async function churn(child: Child, cycles: number) {
  const monitor = new ProcMonitor(child.pid);
  const probe = await LoadClient.connect(child.lp, "length-prefix", 0, "probe", "churn", false);
  const start = performance.now();
  const parallel = 8;
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < cycles) {
      const i = next++;
      const c = await LoadClient.connect(child.lp, "length-prefix", 1, `c${i}`, "churn", false);
      await c.close();
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  await sleep(500);
  // A fresh user must find only the probe: no user leaked.
  const fresh = await LoadClient.connect(child.lp, "length-prefix", 2, "fresh", "churn", false);
  const before = fresh.otherPackets;
  await sleep(100);
  await fresh.close();
  await probe.close();
  await sleep(500);
  const proc = monitor.stop();
  return {
    cycles,
    seconds: Math.round(elapsed * 100) / 100,
    cyclesPerSec: Math.round(cycles / elapsed),
    leakedUsers: await leakedUsers(child),
    freshUserPackets: before,
    router: proc,
  };
}

/** Registers a new client in group "churn" and counts the names in its user list (1 = itself). */
async function leakedUsers(child: Child): Promise<number> {
  const client = await RouterClient.connect({ hostname: "127.0.0.1", port: child.lp });
  try {
    return (await client.register({ user: "check", password: "pw", group: "churn", groupPassword: "gpw" })).length - 1;
  } finally {
    client.close();
    await client.closed;
  }
}

async function slowConsumer(child: Child, seconds: number) {
  const receivers = 5;
  const clients = await connectAll(child, 1 + receivers, "length-prefix", () => "slow");
  const tracker = new Tracker(1 + receivers);
  for (const c of clients) c.tracker = tracker;
  const sender = clients[0]!;
  const slow = clients[receivers]!;
  const watcher = clients[1]!;
  const monitor = new ProcMonitor(child.pid);
  const { encodeMessage } = await import("../lib/osc/codec.ts");
  // ~1,000 msgs/s of 32 bytes plus a 16 KB blob with every 4th: ~4 MB/s to each receiver, so the
  // slow one fills the kernel's socket buffers and then its 4 MiB bound within seconds.
  const big = sender.frame(encodeMessage({ address: "/sample", args: [{ type: "b", value: new Uint8Array(16384) }] }));
  const baseline = tracker.latencies;
  const afterPause = new Latencies();
  const start = performance.now();
  const pauseAtMs = Math.min(5000, seconds * 250);
  let paused = false;
  let cutOffAtSec: number | undefined;
  const listsBefore = watcher.userLists;
  while (performance.now() - start < seconds * 1000) {
    const elapsed = performance.now() - start;
    if (!paused && elapsed > pauseAtMs) {
      slow.pause();
      tracker.latencies = afterPause;
      paused = true;
    }
    await sender.writeAll(sender.batch(2));
    if (sender.seq % 8 === 0) await sender.writeAll(big);
    if (cutOffAtSec === undefined && watcher.userLists > listsBefore) {
      cutOffAtSec = Math.round((performance.now() - start) / 100) / 10; // the others hear it left
    }
    await sleep(1);
  }
  const fastReceivers = receivers - 1;
  await drain(tracker, sender.seq * fastReceivers);
  const elapsed = (performance.now() - start) / 1000;
  const lost = tracker.lost((r, s) => s === 0 && r > 0 && r < receivers ? sender.seq : 0);
  // Was the slow client cut off? Reading now must end in EOF or a reset, not more data forever.
  const cutOff = await endsWithin(slow.conn, 5000);
  const proc = monitor.stop();
  await closeAll(clients.filter((c) => c !== slow));
  await slow.close();
  return {
    seconds: Math.round(elapsed * 100) / 100,
    slowStopsReadingAtSec: pauseAtMs / 1000,
    messagesSent: sender.seq,
    othersLost: lost,
    othersLatencyBeforeUs: baseline.summary(),
    othersLatencyAfterUs: afterPause.summary(),
    slowClientCutOff: cutOff,
    cutOffAtSec,
    router: proc,
  };
}

/** Reads until EOF or error (true), or gives up after `ms` (false). */
async function endsWithin(conn: Deno.TcpConn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(1 << 20);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  const reading = (async () => {
    try {
      while ((await conn.read(buf)) !== null) { /* drain what was queued before the cut */ }
    } catch {
      // reset
    }
    return true;
  })();
  const ended = await Promise.race([reading, timeout]);
  clearTimeout(timer);
  if (!ended) conn.close();
  await reading;
  return ended;
}

const SCENARIOS: Record<string, (child: Child) => Promise<Record<string, unknown>>> = {
  musical: (c) => paced(c, 10, 10, 50, args.seconds),
  "fanout-lp": (c) => flatOut(c, 1, 10, "length-prefix", args.seconds),
  "fanout-slip": (c) => flatOut(c, 1, 10, "slip", args.seconds),
  // The same with a browser in the group: TCP routing must not slow down.
  "fanout-lp+ws": (c) => flatOut(c, 1, 10, "length-prefix", args.seconds, 1),
  // The same with the browser in its own process: what the router pays for it, not the generator.
  "fanout-lp+wsproc": (c) => flatOut(c, 1, 10, "length-prefix", args.seconds, 0, 1),
  "musical+ws": (c) => paced(c, 10, 10, 50, args.seconds, 1),
  mesh: (c) => flatOut(c, 20, 20, "length-prefix", args.seconds),
  groups: (c) => paced(c, 400, 4, 20, args.seconds),
  // The native harness's scenario h: a community server, 250 bands of four (1,000 connections).
  "groups-250": (c) => paced(c, 1000, 4, 20, args.seconds),
  churn: (c) => churn(c, 3000),
  slow: (c) => slowConsumer(c, 2 * args.seconds),
};
const WITH_FLOOR = new Set(["musical", "fanout-lp", "fanout-slip", "mesh", "groups", "groups-250"]);

// Below the kernel's ephemeral range (32768-60999), where client sockets would collide.
let port = 20000 + Math.floor(Math.random() * 1000) * 4;
for (let run = 1; run <= args.runs; run++) {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (args.only && !args.only.includes(name)) continue;
    for (const target of WITH_FLOOR.has(name) ? ["relay", "router"] as const : ["router"] as const) {
      const child = new Child(target, port += 4);
      await child.ready();
      const idle = new ProcMonitor(child.pid);
      await sleep(300);
      const idleRss = idle.stop().rssEndMB;
      try {
        const result: Result = { scenario: name, target, run, idleRssMB: idleRss, ...(await scenario(child)) };
        console.log(JSON.stringify(result));
      } finally {
        await child.stop();
      }
    }
  }
}
