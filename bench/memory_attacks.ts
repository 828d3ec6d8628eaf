/**
 * Memory attacks against a router process (issue 10): starts `main.ts` as a child, attacks it
 * over loopback from many source addresses (127.0.0.2 ...), and prints its RSS growth from
 * /proc/PID/status as one JSON line per scenario.
 *
 * usage: deno run -A bench/memory_attacks.ts [--main PATH/main.ts] [--only frames,trickle,flood]
 *        [-- extra router flags]
 *
 * - idle: 250 connections that send nothing (the fixed cost of a connection).
 * - frames: 250 connections each hold a 1 MiB frame minus one byte.
 * - trickle: 1 MB trickled one byte per read over 50 connections (20,000 bytes each).
 * - flood: one registered client floods 250 non-reading members of its group with 1 KB
 *   messages for 20 s, while a pair in another group exchanges 100 messages/s (latency);
 *   `--receivers 0` floods an empty group, for the cost of the flood alone.
 */
import net from "node:net";
import { encodeLengthPrefixFrame, LengthPrefixDecoder } from "../lib/framing/length_prefix.ts";
import type { Deframed } from "../lib/framing/errors.ts";
import { encodeMessage } from "../lib/osc/codec.ts";
import type { OscArg } from "../lib/osc/types.ts";
import { sampleProcess } from "./load/proc.ts";

const argv = Deno.args;
const dashes = argv.indexOf("--");
const own = dashes < 0 ? argv : argv.slice(0, dashes);
const extra = dashes < 0 ? [] : argv.slice(dashes + 1);
const get = (name: string) => {
  const i = own.indexOf(name);
  return i >= 0 ? own[i + 1] : undefined;
};
const MAIN = get("--main") ?? new URL("../main.ts", import.meta.url).pathname;
const ONLY = (get("--only") ?? "idle,frames,trickle,flood").split(",");
/** Non-reading members of the flooder's group (0 measures what the flood itself costs the pair). */
const RECEIVERS = Number(get("--receivers") ?? 250);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const s = (value: string): OscArg => ({ type: "s", value });
const register = (user: string, group: string) =>
  encodeLengthPrefixFrame(
    encodeMessage({ address: "/oscrouter/register", args: [s(user), s("pw"), s(group), s("gpw")] }),
  );
/** Source address number `i` (127.0.0.2 ... 127.0.0.41): 40 addresses, so per-address limits allow the attack. */
const source = (i: number) => `127.0.0.${2 + (i % 40)}`;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

class Router {
  readonly child: Deno.ChildProcess;
  readonly port = freePort();
  maxRss = 0;
  baseRss = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  constructor() {
    const cwd = MAIN.slice(0, MAIN.lastIndexOf("/"));
    this.child = new Deno.Command("deno", {
      args: ["run", "-A", MAIN, "--host", "127.0.0.1", "--osc-port", String(this.port), "--disable-osc11"]
        .concat("--log-level", "error", extra),
      cwd,
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  }
  async ready(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port })).close();
        await sleep(1000);
        this.baseRss = this.rss();
        this.maxRss = this.baseRss;
        this.#timer = setInterval(() => this.maxRss = Math.max(this.maxRss, this.rss()), 50);
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error("router did not start");
  }
  rss(): number {
    return sampleProcess(this.child.pid).rssBytes;
  }
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.child.kill("SIGTERM");
    await this.child.status;
  }
  mb(bytes: number): number {
    return Math.round(bytes / 1e5) / 10;
  }
}

function connect(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress }, () => resolve(socket));
    socket.setNoDelay(true);
    socket.on("error", reject);
  });
}

function write(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.write(bytes, () => resolve());
  });
}

const closed = (sockets: net.Socket[]) => sockets.filter((x) => x.destroyed || x.readableEnded).length;

async function frames(router: Router) {
  const size = 1 << 20;
  const body = new Uint8Array(size - 1);
  const header = Uint8Array.of(0, 0x10, 0, 0);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 250; i++) {
    const socket = await connect(router.port, source(i));
    socket.on("error", () => {});
    socket.on("data", () => {});
    sockets.push(socket);
  }
  await Promise.all(sockets.map(async (x) => {
    await write(x, header);
    await write(x, body);
  }));
  await sleep(3000);
  const result = { closedByRouter: closed(sockets) };
  for (const x of sockets) x.destroy();
  return result;
}

async function idle(router: Router) {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 250; i++) {
    const socket = await connect(router.port, source(i));
    socket.on("error", () => {});
    socket.on("data", () => {});
    sockets.push(socket);
  }
  await sleep(3000);
  const result = { closedByRouter: closed(sockets) };
  for (const x of sockets) x.destroy();
  return result;
}

async function trickle(router: Router) {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 50; i++) {
    const socket = await connect(router.port, source(i));
    socket.on("error", () => {});
    socket.on("data", () => {});
    sockets.push(socket);
    await write(socket, Uint8Array.of(0, 0x10, 0, 0));
  }
  const one = new Uint8Array(1);
  const started = performance.now();
  for (let round = 0; round < 20_000; round++) {
    for (const x of sockets) if (!x.destroyed) x.write(one);
    // One byte per connection per round, then let the router read it alone.
    if (round % 4 === 3) await sleep(0);
  }
  await Promise.all(sockets.map((x) => write(x, new Uint8Array(0))));
  await sleep(2000);
  const result = { seconds: Math.round((performance.now() - started) / 100) / 10, closedByRouter: closed(sockets) };
  for (const x of sockets) x.destroy();
  return result;
}

async function flood(router: Router) {
  const receivers: net.Socket[] = [];
  for (let i = 0; i < RECEIVERS; i++) {
    const socket = await connect(router.port, source(i));
    socket.on("error", () => {});
    socket.pause(); // never reads: the router's queue to it fills
    await write(socket, register(`r${i}`, "victims"));
    receivers.push(socket);
  }
  // The well-behaved pair.
  const a = await connect(router.port, "127.0.0.1");
  const b = await connect(router.port, "127.0.0.1");
  a.on("data", () => {});
  const decoder = new LengthPrefixDecoder({ maxPacketBytes: 1 << 24 });
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  /** [sent at, latency] of each message, for the p50 of each second. */
  const timeline: [number, number][] = [];
  b.on("data", (chunk: Uint8Array) => {
    const out: Deframed[] = [];
    decoder.push(chunk, out);
    for (const p of out) {
      if (!(p instanceof Uint8Array) || p[1] !== 0x74) continue; // "/t"
      const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
      const seq = view.getInt32(p.length - 4);
      const t = sentAt.get(seq);
      if (t !== undefined) {
        latencies.push(performance.now() - t);
        timeline.push([t, performance.now() - t]);
      }
    }
  });
  await write(a, register("a", "pair"));
  await write(b, register("b", "pair"));
  await sleep(1000);
  // The flooder runs in its own process, so that its busy loop does not delay the pair's clock.
  const flooder = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--flooder", String(router.port)],
    stdout: "piped",
  }).spawn();
  await sleep(500);
  const durationMs = 20_000;
  const start = performance.now();
  for (let seq = 0; performance.now() - start < durationMs; seq++) {
    sentAt.set(seq, performance.now());
    a.write(encodeLengthPrefixFrame(encodeMessage({ address: "/t", args: [{ type: "i", value: seq }] })));
    await sleep(10);
  }
  flooder.kill("SIGTERM");
  const sent = Number(new TextDecoder().decode((await flooder.output()).stdout).trim() || 0);
  // Read what the router queued to the receivers: those it cut off see the end of the stream.
  let cut = 0;
  for (const x of receivers) {
    x.on("end", () => cut++);
    x.on("data", () => {});
    x.resume();
  }
  await sleep(3000);
  latencies.sort((x, y) => x - y);
  const q = (f: number) => Math.round((latencies[Math.floor(f * (latencies.length - 1))] ?? NaN) * 10) / 10;
  const result = {
    floodPackets: sent,
    pairReceived: `${latencies.length}/${sentAt.size}`,
    pairP50Ms: q(0.5),
    pairP99Ms: q(0.99),
    pairMaxMs: q(1),
    receiversCut: cut,
    pairP50BySecondMs: Array.from({ length: Math.ceil(durationMs / 1000) }, (_, i) => {
      const second = timeline.filter(([t]) => t - start >= i * 1000 && t - start < (i + 1) * 1000).map(([, l]) => l);
      second.sort((x, y) => x - y);
      return Math.round(second[Math.floor(second.length / 2)] ?? NaN);
    }),
  };
  for (const x of [...receivers, a, b]) x.destroy();
  return result;
}

/** The flooder's process: registers in the victims' group and sends 1 KB messages flat out until killed. */
async function flooder(port: number): Promise<never> {
  const socket = await connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.on("data", () => {});
  await write(socket, register("flooder", "victims"));
  const packet = encodeLengthPrefixFrame(
    encodeMessage({ address: "/flood", args: [{ type: "b", value: new Uint8Array(1000) }] }),
  );
  const batch = new Uint8Array(packet.length * 64);
  for (let i = 0; i < 64; i++) batch.set(packet, i * packet.length);
  let sent = 0;
  Deno.addSignalListener("SIGTERM", () => {
    console.log(sent);
    Deno.exit(0);
  });
  while (!socket.destroyed) {
    await write(socket, batch);
    sent += 64;
  }
  console.log(sent);
  Deno.exit(0);
}

if (get("--flooder") !== undefined) await flooder(Number(get("--flooder")));

const scenarios: Record<string, (router: Router) => Promise<Record<string, unknown>>> = {
  idle,
  frames,
  trickle,
  flood,
};
for (const name of ONLY) {
  const router = new Router();
  await router.ready();
  const result = await scenarios[name]!(router);
  const rssEnd = router.rss();
  await router.stop();
  console.log(JSON.stringify({
    scenario: name,
    main: MAIN,
    extra: extra.join(" "),
    rssBaseMB: router.mb(router.baseRss),
    rssGrowthMaxMB: router.mb(router.maxRss - router.baseRss),
    rssGrowthEndMB: router.mb(rssEnd - router.baseRss),
    ...result,
  }));
}
