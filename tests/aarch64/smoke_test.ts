/**
 * The router on aarch64 (a Raspberry Pi's CPU), under Debian's qemu-user emulator: it starts,
 * two clients register on its two ports and exchange a message and a private message, and it
 * stops on SIGTERM with exit 0.
 *
 * By default it runs main.ts with Deno's aarch64 build (`deno task test:aarch64` fetches it into
 * dist/deno-aarch64/); with AARCH64_ROUTER=path it runs a compiled aarch64 binary instead (the
 * release workflow's check of tcposcrouter-aarch64-linux).
 * Needs: apt-get install qemu-user-static libc6-arm64-cross.
 */
import assert from "node:assert/strict";
import { s, TestClient, userNames } from "../server/test_client.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const QEMU = "qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu"; // libc6-arm64-cross: the aarch64 glibc the binaries link
const STARTUP_MS = 5 * 60_000; // emulated, the first start compiles every module: about a minute here

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** The command that starts the router on aarch64, and its environment. */
async function routerCommand(ports: string[]): Promise<{ args: string[]; env: Record<string, string> }> {
  const binary = Deno.env.get("AARCH64_ROUTER");
  if (binary !== undefined) return { args: ["-L", SYSROOT, binary, ...ports], env: {} };
  const deno = `${ROOT}dist/deno-aarch64/deno`;
  await Deno.stat(deno).catch(() => {
    throw new Error(`no aarch64 deno at ${deno}: run tests/aarch64/fetch_deno.sh (deno task test:aarch64 does)`);
  });
  // Its own DENO_DIR (caches are per architecture), with the npm packages this machine has
  // already downloaded: the router starts offline.
  const info = JSON.parse(
    new TextDecoder().decode(
      (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" }).output()).stdout,
    ),
  ) as { npmCache: string };
  const denoDir = await Deno.makeTempDir({ prefix: "deno-aarch64-" });
  const copy = await new Deno.Command("cp", { args: ["-r", info.npmCache, `${denoDir}/npm`] }).output();
  assert.ok(copy.success, "copy the npm cache");
  return {
    args: [
      "-L",
      SYSROOT,
      deno,
      "run",
      "--frozen",
      "--cached-only",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      `${ROOT}main.ts`,
      ...ports,
    ],
    env: { DENO_DIR: denoDir },
  };
}

Deno.test("aarch64: the router runs under emulation, two clients exchange messages, SIGTERM exits 0", async () => {
  const lp = freePort(), slip = freePort();
  const { args, env } = await routerCommand(["--host", "127.0.0.1", "--osc-port", `${lp}`, "--osc11-port", `${slip}`]);
  const child = new Deno.Command(QEMU, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  let ana: TestClient | undefined, bob: TestClient | undefined;
  let code = -1;
  try {
    const started = Date.now();
    while (!/Listening on .*:\d+ for OSC 1\.1/.test(stderr)) {
      if (Date.now() - started > STARTUP_MS) throw new Error(`not listening after ${STARTUP_MS} ms:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    console.log(`listening after ${((Date.now() - started) / 1000).toFixed(1)} s under emulation`);
    ana = await TestClient.connect(lp);
    bob = await TestClient.connect(slip, "slip");
    await ana.register("ana", "band", "anaSecret", "bandSecret");
    assert.deepEqual(await bob.register("bob", "band", "bobSecret", "bandSecret"), ["ana", "bob"]);
    assert.deepEqual(userNames(await ana.nextMessage(30_000)), ["ana", "bob"]);
    await ana.sendMsg("/note", { type: "i", value: 60 }, { type: "f", value: 0.5 });
    assert.deepEqual(await bob.nextMessage(30_000), {
      address: "/note",
      args: [{ type: "i", value: 60 }, { type: "f", value: 0.5 }],
    });
    await bob.sendMsg("/oscrouter/private", s("ana"), s("whispa"), s("hi"));
    assert.deepEqual(await ana.nextMessage(30_000), {
      address: "/oscrouter/private",
      args: [s("bob"), s("whispa"), s("hi")],
    });
  } finally {
    await ana?.close();
    await bob?.close();
    child.kill("SIGTERM");
    code = (await child.status).code;
    await reading;
    if (env.DENO_DIR) await Deno.remove(env.DENO_DIR, { recursive: true });
  }
  assert.equal(code, 0, stderr);
  assert.match(stderr, /SIGTERM received: stopping[^]*\bStopped\n/, stderr);
});
