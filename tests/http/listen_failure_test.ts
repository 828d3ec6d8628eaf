/**
 * Each listener that cannot be opened ends the router at once with exit 1, a message in the
 * router's words that names the flag to change, and no port left open (main.ts as a subprocess).
 */
import assert from "node:assert/strict";
import { freePort, MAIN, PERMISSIONS } from "../main_process.ts";

/** Runs main.ts to its end (killed after 15 s if it hangs); returns exit code, stderr and seconds taken. */
async function run(args: string[], permissions = PERMISSIONS) {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, MAIN, "--host", "127.0.0.1", ...args],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  clearTimeout(killer);
  return { code: status.code, signal: status.signal, stderr, seconds: (performance.now() - started) / 1000 };
}

/** True when nothing listens on `port` any more (the router closed what it had opened). */
function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

for (
  const [name, flag] of [
    ["the OSC 1.0 port", "--osc-port"],
    ["the OSC 1.1 port", "--osc11-port"],
    ["the HTTP port", "--http-port"],
  ] as const
) {
  Deno.test(`listen failure: ${name} in use exits 1 promptly, names ${flag}, leaves no port open`, async () => {
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const ports: Record<string, number> = {
        "--osc-port": freePort(),
        "--osc11-port": freePort(),
        "--http-port": freePort(),
      };
      ports[flag] = busy.addr.port;
      const args = Object.entries(ports).flatMap(([f, p]) => [f, String(p)]);
      const result = await run(args);
      assert.equal(result.signal, null, `not killed: it exited by itself\n${result.stderr}`);
      assert.equal(result.code, 1, result.stderr);
      assert.ok(result.seconds < 10, `exited after ${result.seconds.toFixed(1)} s`);
      assert.match(result.stderr, new RegExp(`${busy.addr.port} is in use.*${flag}`));
      assert.doesNotMatch(result.stderr, /Uncaught|os error|at .*\.ts:\d+/, "the router's words, not a stack trace");
      for (const [f, p] of Object.entries(ports)) if (f !== flag) assert.ok(portFree(p), `${f} ${p} was closed`);
    } finally {
      busy.close();
    }
  });
}

Deno.test("listen failure: an --http-port the router may not open exits 1 and names --http-port", async () => {
  // Port 80 as non-root cannot be tried as root (this machine's CI): a router allowed only its
  // OSC port (Deno's --allow-net=HOST:PORT) meets the same refusal on its HTTP port.
  const port = freePort();
  const osc = freePort();
  const result = await run(
    ["--disable-osc11", "--osc-port", String(osc), "--http-host", "127.0.0.1", "--http-port", String(port)],
    [...PERMISSIONS.filter((p) => p !== "--allow-net"), `--allow-net=127.0.0.1:${osc}`],
  );
  assert.equal(result.signal, null, `not killed: it exited by itself\n${result.stderr}`);
  assert.equal(result.code, 1, result.stderr);
  assert.ok(result.seconds < 10, `exited after ${result.seconds.toFixed(1)} s`);
  assert.match(result.stderr, new RegExp(`--http-port ${port} needs privileges`));
  assert.ok(portFree(osc), "the OSC port was closed");
});

Deno.test("accept errors: out of file descriptors, the HTTP port pauses and goes on; the router lives", async () => {
  const [http, osc, osc11] = [freePort(), freePort(), freePort()];
  const command = `ulimit -n 64; exec "${Deno.execPath()}" run ${PERMISSIONS.join(" ")} "${MAIN}" --host 127.0.0.1 ` +
    `--osc-port ${osc} --osc11-port ${osc11} --http-host 127.0.0.1 --http-port ${http}`;
  const child = new Deno.Command("bash", {
    args: ["-c", command],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const conns: Deno.TcpConn[] = [];
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: http })).close();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error("the router did not start");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // 100 idle connections: more than its 64 descriptors allow.
    for (let i = 0; i < 100; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: http }));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const c of conns.splice(0)) c.close();
    // Accepting resumed: a request is served (the backlog drains first).
    let served = false;
    for (let i = 0; i < 50 && !served; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${http}/healthz`, { signal: AbortSignal.timeout(2000) });
        served = (await r.text()) === "ok\n";
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    assert.ok(served, "/healthz answered after the descriptors came back");
  } finally {
    for (const c of conns) c.close();
    child.kill("SIGTERM");
  }
  const status = await child.status;
  const log = await stderr;
  assert.equal(status.code, 0, `stopped by SIGTERM, not crashed:\n${log}`);
  // Deno's node:net stops accepting without telling why: the router notices that it stopped.
  assert.match(log, /Accept failed on the HTTP port: .*going on/);
  assert.doesNotMatch(log, /Uncaught/);
});
