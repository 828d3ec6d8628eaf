/** --groups, --closed, SIGHUP and hash-password as an operator meets them: main.ts as a subprocess. */
import assert from "node:assert/strict";
import { hashPassword } from "../../lib/access/password_hash.ts";
import { registerOnce } from "./net_client.ts";
import { NetClient } from "./net_client.ts";
import { freePort, MAIN, PERMISSIONS } from "../main_process.ts";

const EXAMPLE = new URL("../../examples/deploy/groups.toml", import.meta.url).pathname;

/** main.ts on a free port; its stderr is collected. */
class Main {
  readonly port = freePort();
  stderr = "";
  #child: Deno.ChildProcess;
  #reading: Promise<void>;

  constructor(args: string[]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...PERMISSIONS,
        MAIN,
        "--host",
        "127.0.0.1",
        "--osc-port",
        String(this.port),
        "--disable-osc11",
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#reading = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) this.stderr += chunk;
    })();
  }

  async waitFor(pattern: RegExp, timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stderr)) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  async stop(): Promise<number> {
    this.#child.kill("SIGTERM");
    const status = await this.#child.status;
    await this.#reading;
    return status.code;
  }
}

Deno.test("main: the shipped groups.toml as is, --closed, registers with its documented passwords", async () => {
  const main = new Main(["--groups", EXAMPLE, "--closed"]);
  try {
    await main.waitFor(/Listening on/);
    assert.match(main.stderr, /Groups file .*groups\.toml: 2 groups, 2 declared users; closed/);
    const join = (address: string, cred: [string, string, string, string]) => registerOnce(main.port, address, cred);
    assert.equal(await join("127.0.0.2", ["ana", "band", "any", "band-example-password"]), "joined");
    assert.equal(await join("127.0.0.2", ["ana", "band", "any", "squatted"]), "wrong_group_password");
    assert.equal(await join("127.0.0.2", ["ana", "elsewhere", "any", "pw"]), "unknown_group");
    assert.equal(
      await join("127.0.0.3", ["conductor", "band", "guess", "band-example-password"]),
      "wrong_user_password",
    );
    assert.equal(
      await join("127.0.0.3", ["conductor", "band", "conductor-example-password", "band-example-password"]),
      "joined",
    );
    assert.equal(await join("127.0.0.4", ["pupil", "school", "x", "school-example-password"]), "wrong_user_password");
    assert.equal(
      await join("127.0.0.4", ["teacher", "school", "conductor-example-password", "school-example-password"]),
      "joined",
    );
    await main.waitFor(/Failed register as ana@elsewhere from 127\.0\.0\.2/);
  } finally {
    assert.equal(await main.stop(), 0);
  }
  assert.doesNotMatch(main.stderr, /example-password|\$scrypt\$|squatted|guess/, "no password or hash in the log");
});

Deno.test("main: SIGHUP re-reads the groups file; members stay; a bad file keeps the old one", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  const write = async (groupPassword: string) =>
    await Deno.writeTextFile(
      path,
      `[groups.band]\npassword = "${await hashPassword(groupPassword, { ln: 10, r: 8, p: 1 })}"\n`,
    );
  await write("first");
  const main = new Main(["--groups", path]);
  const ana = await (async () => {
    await main.waitFor(/Listening on/);
    return await NetClient.connect(main.port, "127.0.0.2");
  })();
  try {
    ana.register("ana", "band", "upw", "first");
    assert.equal(await ana.outcome(), "joined");
    await write("second");
    main.signal("SIGHUP");
    await main.waitFor(/re-read the groups file .*: 1 groups, 0 declared users; connected members stay/);
    assert.equal(await registerOnce(main.port, "127.0.0.3", ["bob", "band", "upw", "first"]), "wrong_group_password");
    assert.equal(await registerOnce(main.port, "127.0.0.3", ["bob", "band", "upw", "second"]), "joined");
    await Deno.writeTextFile(path, `[groups.band]\npassword = "oops"\n`);
    main.signal("SIGHUP");
    await main.waitFor(/the groups file was not reloaded, the previous one stays in force: .*:2:\d+: password of/);
    assert.equal(await registerOnce(main.port, "127.0.0.4", ["cy", "band", "upw", "second"]), "joined");
    assert.ok(!ana.closed, "ana stayed connected through both reloads");
    await ana.waitFor(3);
    assert.deepEqual(
      ana.messages.slice(1).map((m) => m.address),
      ana.messages.slice(1).map(() => "/oscrouter/userlist"),
    );
  } finally {
    await ana.close();
    assert.equal(await main.stop(), 0);
    await Deno.remove(path);
  }
});

Deno.test("main: a bad groups file at start exits 2 with the line and what to fix", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, `# venue\n[groups.band]\npassword = "$scrypt$ln=15"\n`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, MAIN, "--groups", path],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(stderr, new RegExp(`--groups ${path.replaceAll(".", "\\.")}:3:\\d+: password of \\[groups.band\\]`));
    assert.match(stderr, /tcposcrouter hash-password/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main: hash-password reads a piped password and prints a line that verifies", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "hash-password", "--user", "Ana María"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("s3cret pass\r\nignored\n"));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0);
  const line = new TextDecoder().decode(out.stdout);
  assert.match(line, /^"Ana María" = "\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"\n$/);
  assert.doesNotMatch(line + new TextDecoder().decode(out.stderr), /s3cret/);
  const { verifyPassword } = await import("../../lib/access/password_hash.ts");
  assert.ok(await verifyPassword(line.split('"')[3]!, "s3cret pass"));
});

/** Runs main.ts to its exit; returns the exit code and stderr. */
async function runMain(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSIONS,
      MAIN,
      "--host",
      "127.0.0.1",
      "--osc-port",
      String(freePort()),
      "--disable-osc11",
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("main: a groups file linked to /dev/zero, or over 1 MiB, exits 2 at start with the reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.symlink("/dev/zero", `${dir}/groups.toml`);
    // Before: read /dev/zero until memory ran out (0.4 GB/s).
    const zero = await runMain(["--groups", `${dir}/groups.toml`]);
    assert.equal(zero.code, 2, zero.stderr);
    assert.match(zero.stderr, /groups\.toml: not a regular file \(a device, FIFO or socket\)/);
    await Deno.writeTextFile(`${dir}/big.toml`, "#".repeat(1024 * 1024) + "\n");
    const big = await runMain(["--groups", `${dir}/big.toml`]);
    assert.equal(big.code, 2, big.stderr);
    assert.match(big.stderr, /big\.toml: larger than the 1 MiB allowed \(it has 1048577 bytes\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: an --http-token-file linked to /dev/zero, or over 4 KiB, exits 2 at start with the reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.symlink("/dev/zero", `${dir}/token`);
    const http = ["--http-port", String(freePort()), "--http-host", "127.0.0.1"];
    const zero = await runMain([...http, "--http-token-file", `${dir}/token`]);
    assert.equal(zero.code, 2, zero.stderr);
    assert.match(zero.stderr, /cannot read --http-token-file .*token: not a regular file/);
    await Deno.writeTextFile(`${dir}/big`, "t".repeat(4097));
    const big = await runMain([...http, "--http-token-file", `${dir}/big`]);
    assert.equal(big.code, 2, big.stderr);
    assert.match(big.stderr, /cannot read --http-token-file .*big: larger than the 4 KiB allowed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: SIGHUP with the groups file now linked to /dev/zero, or over 1 MiB: the old one stays, the error is logged", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/groups.toml`;
  await Deno.writeTextFile(
    path,
    `[groups.band]\npassword = "${await hashPassword("first", { ln: 10, r: 8, p: 1 })}"\n`,
  );
  const main = new Main(["--groups", path]);
  try {
    await main.waitFor(/Listening on/);
    await Deno.rename(path, `${dir}/old.toml`);
    await Deno.symlink("/dev/zero", path);
    main.signal("SIGHUP");
    await main.waitFor(/the groups file was not reloaded, the previous one stays in force: .*not a regular file/, 5000);
    assert.equal(await registerOnce(main.port, "127.0.0.3", ["bob", "band", "upw", "first"]), "joined");
    await Deno.remove(path);
    await Deno.writeTextFile(path, "#".repeat(2 * 1024 * 1024));
    main.signal("SIGHUP");
    await main.waitFor(/not reloaded, the previous one stays in force: .*larger than the 1 MiB allowed/, 5000);
    assert.equal(await registerOnce(main.port, "127.0.0.4", ["cy", "band", "upw", "first"]), "joined");
  } finally {
    assert.equal(await main.stop(), 0);
    await Deno.remove(dir, { recursive: true });
  }
});
