/**
 * A first `deno task start` fetches only what the router needs: Deno installs every npm package
 * of deno.lock and of deno.json's imports before a task runs, so deno.lock must be tests.lock cut
 * down to main.ts's packages, and deno.json must import no test-only package.
 */
import assert from "node:assert/strict";
import denoConfig from "../../deno.json" with { type: "json" };

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("deno.lock: up to date with tests.lock, with the router's packages only", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--frozen",
      "--allow-run",
      "--allow-read",
      "--allow-write",
      "--lock=tests.lock",
      "tools/lock.ts",
      "--check",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`)) as { npm: Record<string, unknown> };
  const packages = Object.keys(lock.npm).map((id) => id.replace(/(.)@.*$/, "$1"));
  // The NATS client (--cluster): @nats-io/kv brings jetstream; transport-node brings core, nkeys, nuid, tweetnacl.
  const nats = ["@nats-io/jetstream", "@nats-io/kv", "@nats-io/nats-core", "@nats-io/nkeys", "@nats-io/nuid"];
  assert.deepEqual(
    packages.sort(),
    ["@logtape/logtape", ...nats, "@nats-io/transport-node", "commander", "smol-toml", "tweetnacl", "ws"],
  );
  assert.deepEqual(
    Object.keys(denoConfig.imports).sort(),
    ["@logtape/logtape", "@nats-io/kv", "@nats-io/transport-node", "commander", "smol-toml", "ws"],
  );
  for (const task of ["start", "compile"] as const) assert.doesNotMatch(denoConfig.tasks[task], /--lock/, task);
  for (const task of ["test", "test:interop", "test:soak", "check", "bench"] as const) {
    assert.match(denoConfig.tasks[task], /--lock=tests\.lock/, task);
  }
});

Deno.test("cli: deno task start -- --version (the npm habit) prints the version", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "start", "--", "--version"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), denoConfig.version);
});
