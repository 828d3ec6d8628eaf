/**
 * What logging costs the event loop, measured on main.ts as a subprocess (issue 10, point 4):
 *
 * - churn: one client registers and closes, sequentially, N times (default 3,000), with and without --log-dir;
 *   prints cycles per second.
 * - flood: with --log-dir, connections opened and closed at once at 500/s from ten loopback addresses for S seconds
 *   (default 10) while a pair in another group (from 127.0.0.2, in probe.ts) exchanges 20 messages/s; prints the
 *   pair's p50/p99.
 *
 * usage: deno run --allow-all tests/hostile/log_bench.ts [churn|flood|all] [--cycles N] [--seconds S]
 * TCPOSCROUTER_MAIN=/path/to/other/main.ts measures another tree (e.g. the commit before).
 */
import net from "node:net";
import { registerPacket, sleep } from "./net.ts";
import { Probe, RouterProcess } from "./router_process.ts";
import { encodeFrame } from "../../lib/framing/by_framing.ts";

const what = Deno.args[0] ?? "all";
const flag = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const cycles = flag("--cycles", 3000);
const seconds = flag("--seconds", 10);

async function churn(logDir: boolean): Promise<number> {
  const router = await RouterProcess.start({ logDir, http: false });
  try {
    const frame = (user: string) => encodeFrame("length-prefix", registerPacket(user, "churn"));
    const buffer = new Uint8Array(4096);
    const start = performance.now();
    for (let i = 0; i < cycles; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.oscPort });
      conn.setNoDelay(true);
      await conn.write(frame(`u${i}`));
      const n = await conn.read(buffer); // the register reply (the user list may follow)
      if (n === null) throw new Error(`cycle ${i}: the router closed the connection`);
      conn.close();
    }
    return cycles / ((performance.now() - start) / 1000);
  } finally {
    await router.stop();
    await router.cleanUp();
  }
}

async function flood(): Promise<{ p50Ms: number; p99Ms: number; sent: number; received: number; opened: number }> {
  const router = await RouterProcess.start({ logDir: true, http: false });
  let opened = 0;
  try {
    const probe = await Probe.start(router.oscPort, "127.0.0.2", 20);
    const end = performance.now() + seconds * 1000;
    let tick = 0;
    while (performance.now() < end) {
      for (let k = 0; k < 5; k++) {
        const socket = net.connect({
          host: "127.0.0.1",
          port: router.oscPort,
          localAddress: `127.0.20.${1 + (tick + k) % 10}`,
        });
        socket.on("connect", () => {
          opened++;
          socket.destroy();
        });
        socket.on("error", () => socket.destroy());
      }
      tick++;
      await sleep(Math.max(0, tick * 10 - (performance.now() - (end - seconds * 1000))));
    }
    const result = await probe.stop();
    return { ...result, opened };
  } finally {
    await router.stop();
    await router.cleanUp();
  }
}

if (what === "churn" || what === "all") {
  const without = await churn(false);
  const withLog = await churn(true);
  console.log(
    JSON.stringify({
      scenario: "churn",
      cycles,
      withoutLogDirPerS: Math.round(without),
      withLogDirPerS: Math.round(withLog),
    }),
  );
}
if (what === "flood" || what === "all") {
  const r = await flood();
  console.log(
    JSON.stringify({ scenario: "flood 500 connects+closes/s with --log-dir", seconds, ...r }),
  );
}
