/** `--log-dir` failures as an operator meets them: the router's words, never Deno's. */
import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
// The permissions of `deno task start` and of the compiled binary.
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write"];

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * Runs the router to its end; a guard kills it should it start instead of refusing. The guard is long: a loaded
 * machine took more than 10 s just to load main.ts, and the kill (exit 137) failed a router that refused correctly.
 */
async function run(args: string[]) {
  const ports = ["--osc-port", String(freePort()), "--osc11-port", String(freePort())];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--frozen", ...PERMISSIONS, MAIN, ...ports, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const out = await child.output();
  clearTimeout(guard);
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Deno's own wording, which names flags the router does not take or raw OS error numbers. */
const DENO_WORDING = /--allow|os error|mkdir '|open '|Requires/;

Deno.test("cli: --log-dir under /sys says so without Deno's --allow-all advice, exit 2", async () => {
  const { code, stderr } = await run(["--log-dir", "/sys/kernel"]);
  assert.equal(code, 2, stderr);
  assert.equal(
    stderr.trim(),
    "error: cannot write logs to '/sys/kernel': the router never writes to system paths such as /proc, /sys or /dev; " +
      "choose a writable directory with --log-dir",
  );
});

Deno.test("cli: a file given as --log-dir, or a path through a file, is named as such, exit 2", async () => {
  const file = await Deno.makeTempFile();
  try {
    const direct = await run(["--log-dir", file]);
    assert.equal(direct.code, 2, direct.stderr);
    assert.match(direct.stderr, /: it is a file, not a directory; choose a writable directory with --log-dir/);
    assert.doesNotMatch(direct.stderr, DENO_WORDING);
    const below = await run(["--log-dir", `${file}/logs`]);
    assert.equal(below.code, 2, below.stderr);
    assert.match(below.stderr, /: part of the path is a file, not a directory; choose a writable directory/);
    assert.doesNotMatch(below.stderr, DENO_WORDING);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("cli: a directory where the log file should be is named, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/tcposcrouter.log`);
    const { code, stderr } = await run(["--log-dir", dir]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /: tcposcrouter\.log in it is a directory, not a file; choose a writable directory/);
    assert.doesNotMatch(stderr, DENO_WORDING);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
