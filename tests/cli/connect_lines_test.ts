/** The start-up lines that tell musicians where to connect (main.ts as a subprocess). */
import assert from "node:assert/strict";
import { freePort, MAIN, PERMISSIONS } from "../main_process.ts";

/** Starts main.ts, reads its log until `last` matches, stops it; returns the log. */
async function startupLog(permissions: string[], args: string[], last: RegExp): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGTERM"), 120_000); // only if `last` never comes; a loaded start takes 10 s+
  try {
    while (!last.test(log)) {
      const { value, done } = await reader.read();
      if (done) break;
      log += value;
    }
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      log += value;
    }
    await child.status;
  }
  return log;
}

Deno.test("cli: on one address, the log names it with both ports, then the status page and the web client", async () => {
  const [osc, osc11, http] = [freePort(), freePort(), freePort()];
  const log = await startupLog(PERMISSIONS, [
    "--host=127.0.0.1",
    `--osc-port=${osc}`,
    `--osc11-port=${osc11}`,
    "--http-host=127.0.0.1",
    `--http-port=${http}`,
  ], /Status page: .*\n/);
  const connect = log.split("\n").filter((l) => l.includes("Musicians connect to"));
  assert.equal(connect.length, 1, log);
  assert.match(
    connect[0]!,
    new RegExp(
      `Musicians connect to 127\\.0\\.0\\.1 port ${osc} \\(SuperCollider, OSC 1\\.0\\) or ${osc11} \\(Pure Data, OSC 1\\.1\\)$`,
    ),
  );
  assert.match(
    log,
    new RegExp(`Status page: http://127\\.0\\.0\\.1:${http}/ \\(web client: http://127\\.0\\.0\\.1:${http}/client\\)`),
  );
  // Said after the router is listening, before anyone connects.
  assert.ok(log.indexOf("Listening on") < log.indexOf("Musicians connect to"));
});

Deno.test("cli: one port only names that port; no status page line without --http-port", async () => {
  const osc11 = freePort();
  const log = await startupLog(
    PERMISSIONS,
    ["--host=127.0.0.1", "--disable-osc10", `--osc11-port=${osc11}`],
    /Musicians connect to .*\n/,
  );
  assert.match(log, new RegExp(`Musicians connect to 127\\.0\\.0\\.1 port ${osc11} \\(Pure Data, OSC 1\\.1\\)\\n`));
  assert.doesNotMatch(log, /Status page/);
});

Deno.test("cli: on every interface, each non-loopback address is named (with --allow-sys=networkInterfaces)", async () => {
  const [osc, osc11] = [freePort(), freePort()];
  const log = await startupLog(
    [...PERMISSIONS, "--allow-sys=networkInterfaces"],
    [`--osc-port=${osc}`, `--osc11-port=${osc11}`],
    /Musicians connect to .*\n/,
  );
  // The addresses this machine has, read by a helper with the same permission.
  const listed = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "console.log(JSON.stringify(Deno.networkInterfaces().map((i) => i.address)))"],
    stdout: "piped",
  }).output();
  const all: string[] = JSON.parse(new TextDecoder().decode(listed.stdout));
  const named = [...log.matchAll(/Musicians connect to (\S+) port (\d+) .* or (\d+) /g)].map((m) => {
    assert.equal(Number(m[2]), osc);
    assert.equal(Number(m[3]), osc11);
    return m[1]!;
  });
  assert.ok(named.length > 0, log);
  for (const address of named) assert.ok(all.includes(address), `${address} is one of ${all}`);
  const open = all.filter((a) => !a.startsWith("127.") && a !== "::1" && !/^fe80:/i.test(a));
  if (open.length > 0) assert.deepEqual(new Set(named), new Set(open), "every non-loopback address, no loopback");
  else assert.deepEqual(named, ["127.0.0.1"]);
});

Deno.test("cli: without --allow-sys, the router still starts and says how to list the addresses", async () => {
  const osc = freePort();
  const log = await startupLog(PERMISSIONS, [`--osc-port=${osc}`, "--disable-osc11"], /Musicians connect to .*\n/);
  assert.match(
    log,
    new RegExp(
      `Musicians connect to this machine's address port ${osc} \\(SuperCollider, OSC 1\\.0\\) \\(start with --allow-sys=networkInterfaces`,
    ),
  );
});

Deno.test("cli: the start and compile tasks grant --allow-sys=networkInterfaces, and nothing more of sys", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  for (const task of ["start", "compile", "compile:all"]) {
    const text: string = config.tasks[task];
    assert.match(text, /--allow-sys=networkInterfaces /, task);
    assert.doesNotMatch(text, /--allow-sys(?!=networkInterfaces)/, task);
  }
  const dockerfile = await Deno.readTextFile(new URL("../../examples/deploy/Dockerfile", import.meta.url));
  assert.match(dockerfile, /"--allow-sys=networkInterfaces"/);
});
