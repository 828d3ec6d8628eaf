/** The HTTP flags as an operator gives them to main.ts (a subprocess). */
import assert from "node:assert/strict";
import { get, RawWebSocket } from "./raw.ts";
import { freePort, MAIN, PERMISSIONS } from "../main_process.ts";

Deno.test("cli http: --http-token-file, --http-allow-host and --http-allow-origin apply", async () => {
  const dir = await Deno.makeTempDir();
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, "from-file\n");
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSIONS,
      MAIN,
      "--host=127.0.0.1",
      `--osc-port=${freePort()}`,
      `--osc11-port=${freePort()}`,
      "--http-host=127.0.0.1",
      `--http-port=${port}`,
      `--http-token-file=${tokenFile}`,
      "--http-allow-host=router.venue.example, stage.local",
      "--http-allow-origin=https://stage.example",
    ],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await get(port, "/healthz");
        break;
      } catch {
        if (Date.now() > deadline) throw new Error("the router did not start");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.equal((await get(port, "/metrics")).status, 401);
    assert.equal((await get(port, "/metrics", { authorization: "Bearer from-file" })).status, 200);
    const auth = { authorization: `Basic ${btoa("x:from-file")}` };
    assert.equal((await get(port, "/status.json", { ...auth, host: "stage.local" })).status, 200);
    assert.equal((await get(port, "/status.json", { ...auth, host: "router.venue.example" })).status, 200);
    assert.equal((await get(port, "/status.json", { ...auth, host: "elsewhere.example" })).status, 421);
    const ws = await RawWebSocket.open(port, { origin: "https://stage.example" });
    assert.ok(ws instanceof RawWebSocket);
    await ws.close();
    const refused = await RawWebSocket.open(port, { origin: "https://other.example" });
    assert.ok(!(refused instanceof RawWebSocket) && refused.status === 403);
  } finally {
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    const log = await stderr;
    assert.doesNotMatch(log, /from-file/, "the token is never logged");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli http: the token twice, an empty token, or an unreadable token file exit 2 with a message", async () => {
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, MAIN, "--host=127.0.0.1", `--osc-port=${freePort()}`, "--disable-osc11", ...args],
      env: { NO_COLOR: "1", ...env },
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const http = ["--http-host=127.0.0.1", `--http-port=${freePort()}`];
  const both = await run([...http, "--http-token-file=/nonexistent"], { TCPOSCROUTER_HTTP_TOKEN: "t" });
  assert.equal(both.code, 2);
  assert.match(both.stderr, /TCPOSCROUTER_HTTP_TOKEN or --http-token-file, not both/);
  const empty = await run(http, { TCPOSCROUTER_HTTP_TOKEN: " " });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /TCPOSCROUTER_HTTP_TOKEN is empty/);
  const missing = await run([...http, "--http-token-file=/nonexistent/token"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read --http-token-file \/nonexistent\/token: no such file/);
});
