/**
 * Measures the HTTP-port attacks of issue 10 against `main.ts` run as a subprocess (not a test:
 * figures for the note). Usage:
 *
 *   deno run --allow-all tests/http/measure_attacks.ts ws|idle|sse [MAIN_TS]
 *
 * ws: 19 WebSocket clients each send one 63 MiB message before logging in (peak RSS over 10 s).
 * idle: 4,100 idle TCP connections to the HTTP port, router under `ulimit -n 4096` (alive? fds).
 * sse: 100 /events clients that never read (RSS over 60 s).
 */
import net from "node:net";

const mode = Deno.args[0] ?? "ws";
const main = Deno.args[1] ?? new URL("../../main.ts", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

function rssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return -1;
  }
}

function fds(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return -1;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const httpPort = freePort();
const script =
  `ulimit -n 4096; exec "${Deno.execPath()}" run --allow-all "${main}" --host 127.0.0.1 --osc-port ${freePort()} --osc11-port ${freePort()} --http-port ${httpPort} --http-host 127.0.0.1 --log-level warning`;
const child = new Deno.Command("bash", { args: ["-c", script], stdout: "null", stderr: "piped" }).spawn();
let stderr = "";
const reading = (async () => {
  for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) stderr += c;
})();
let exited: number | undefined;
child.status.then((s) => exited = s.code);
for (let i = 0; i < 100; i++) {
  try {
    const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    await r.body?.cancel();
    break;
  } catch {
    await sleep(100);
  }
}
const pid = child.pid;
const base = rssMiB(pid);
console.log(`${mode}: router pid ${pid}, RSS at start ${base.toFixed(1)} MiB, fds ${fds(pid)}`);

async function healthy(): Promise<string> {
  try {
    const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(3000) });
    return `${r.status} ${(await r.text()).trim()}`;
  } catch (error) {
    return `no answer (${error instanceof Error ? error.message : error})`;
  }
}

if (mode === "ws") {
  const sockets: WebSocket[] = [];
  const closes: string[] = [];
  for (let i = 0; i < 19; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/osc`);
    ws.onclose = (e) => closes.push(String(e.code));
    ws.onerror = () => {};
    sockets.push(ws);
  }
  await Promise.all(sockets.map((ws) => new Promise((r) => (ws.onopen = r, setTimeout(r, 5000)))));
  const big = new Uint8Array(63 * 1024 * 1024);
  for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(big);
  let peak = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000 && exited === undefined) {
    peak = Math.max(peak, rssMiB(pid));
    await sleep(100);
  }
  console.log(
    `ws: peak RSS ${peak.toFixed(1)} MiB (+${(peak - base).toFixed(1)}), closes ${closes.join(",") || "none"}`,
  );
  for (const ws of sockets) ws.close();
} else if (mode === "idle") {
  const socks: net.Socket[] = [];
  let errors = 0;
  for (let i = 0; i < 4100; i++) {
    const s = net.connect({ host: "127.0.0.1", port: httpPort });
    s.on("error", () => errors++);
    socks.push(s);
    if (i % 200 === 199) await sleep(20);
  }
  for (let t = 0; t <= 20 && exited === undefined; t += 2) {
    const open = socks.filter((s) => !s.destroyed && !s.closed).length;
    console.log(`idle: t=${t}s router fds ${fds(pid)}, client sockets open ${open}, errors ${errors}`);
    await sleep(2000);
  }
  console.log(`idle: /healthz ${await healthy()}`);
  for (const s of socks) s.destroy();
} else {
  const socks: net.Socket[] = [];
  for (let i = 0; i < 100; i++) {
    const s = net.connect({ host: "127.0.0.1", port: httpPort });
    s.on("error", () => {});
    s.on("connect", () => {
      s.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${httpPort}\r\n\r\n`);
      s.pause(); // never read
    });
    socks.push(s);
  }
  for (let t = 0; t <= 60 && exited === undefined; t += 10) {
    console.log(
      `sse: t=${t}s RSS ${rssMiB(pid).toFixed(1)} MiB, open ${socks.filter((s) => !s.destroyed && !s.closed).length}`,
    );
    await sleep(10_000);
  }
  for (const s of socks) s.destroy();
}
console.log(`${mode}: router ${exited === undefined ? "alive" : `exited with ${exited}`}`);
if (exited === undefined) child.kill("SIGTERM");
await child.status;
await reading;
const tail = stderr.trim().split("\n").slice(-3).join("\n");
if (tail) console.log(`stderr tail:\n${tail}`);
