/** The CLI as an operator meets it: main.ts run as a subprocess. */
import assert from "node:assert/strict";
import denoConfig from "../../deno.json" with { type: "json" };
import { TestClient } from "../server/test_client.ts";
import { freePort, MAIN, PERMISSIONS } from "../main_process.ts";

async function runToEnd(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** A running router whose stderr is collected; waits until it listens. */
class Router {
  #child: Deno.ChildProcess;
  stderr = "";
  #reading: Promise<void>;

  constructor(args: string[], env: Record<string, string> = {}) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, MAIN, ...args],
      env: { NO_COLOR: "1", ...env },
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

  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    this.#child.kill(signal);
    const status = await this.#child.status;
    await this.#reading;
    return status.code;
  }
}

Deno.test("cli: --help lists every flag and exits 0", async () => {
  const { code, stdout } = await runToEnd(["--help"]);
  assert.equal(code, 0);
  for (
    const flag of [
      "--osc-port",
      "--osc11-port",
      "--disable-osc10",
      "--disable-osc11",
      "--log-dir",
      "-h, --help",
      "--host",
      "--max-packet-bytes",
      "--max-queue-bytes",
      "--max-connections",
      "--register-timeout",
      "--log-level",
      "--log-format",
      "--strict-framing",
      "-V, --version",
      "TCPOSCROUTER_OSC_PORT",
    ]
  ) assert.ok(stdout.includes(flag), `help lacks ${flag}`);
});

Deno.test("cli: --version prints the version", async () => {
  const { code, stdout } = await runToEnd(["--version"]);
  assert.equal(code, 0);
  assert.equal(stdout.trim(), denoConfig.version);
});

Deno.test("cli: usage errors exit 2 with the message on stderr (the cases: tests/cli/options_test.ts)", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--osc-port", "0"], {}, /^error: --osc-port must be an integer from 1 to 65535, got '0'\n$/],
    [[], { TCPOSCROUTER_OSC11_PORT: "70000" }, /^error: TCPOSCROUTER_OSC11_PORT \(--osc11-port\) must be/],
    [["--bogus"], {}, /^error: unknown option '--bogus'\n\(run tcposcrouter --help for every option\)\n$/],
    [["--disable-osc10", "--disable-osc11"], {}, /^error: both ports are disabled/],
  ];
  for (const [args, env, message] of cases) {
    const { code, stdout, stderr } = await runToEnd(args, env);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message);
    assert.equal(stdout, "");
  }
});

Deno.test("cli: an unwritable log dir exits 2 and names the flag", async () => {
  const file = await Deno.makeTempFile();
  try {
    const { code, stderr } = await runToEnd(["--log-dir", `${file}/logs`, "--osc-port", String(freePort())]);
    assert.equal(code, 2);
    assert.match(stderr, /cannot write logs to .*--log-dir/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("cli: a port in use exits 1 and says which flag to change", async () => {
  const busy = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  try {
    const { code, stderr } = await runToEnd(["--osc-port", String(busy.addr.port), "--osc11-port", String(freePort())]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`port ${busy.addr.port} is in use: is another router running\\? choose another with --osc-port`),
    );
  } finally {
    busy.close();
  }
});

Deno.test("cli: environment variables apply; a flag wins over its variable; SIGTERM exits 0", async () => {
  const [envPort, flagPort, slipPort] = [freePort(), freePort(), freePort()];
  const router = new Router(["--osc11-port", String(slipPort)], {
    TCPOSCROUTER_OSC_PORT: String(envPort),
    TCPOSCROUTER_OSC11_PORT: String(flagPort),
    TCPOSCROUTER_DISABLE_OSC11: "0", // "0" means not set
    TCPOSCROUTER_LOG_FORMAT: "json",
  });
  await router.waitFor(/Listening on/);
  assert.equal(await router.stop("SIGTERM"), 0);
  const lines = router.stderr.trim().split("\n").map((l) => JSON.parse(l));
  const listening = lines.filter((l) => String(l.message).startsWith("Listening on"));
  assert.equal(listening.length, 2, router.stderr);
  assert.match(listening[0].message, new RegExp(`:${envPort} for OSC 1.0`), "TCPOSCROUTER_OSC_PORT applies");
  assert.match(listening[1].message, new RegExp(`:${slipPort} for OSC 1.1`), "--osc11-port wins over its variable");
  assert.ok(!router.stderr.includes(`:${flagPort} `));
  assert.ok(lines.some((l) => /tcposcrouter \d+\.\d+\.\d+ started/.test(l.message)));
  assert.ok(lines.some((l) => l.message === "Stopped"));
});

Deno.test("cli: --log-dir writes the register line and never the passwords; SIGINT exits 0", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const router = new Router(["--osc-port", String(port), "--osc11-port", String(freePort()), "--log-dir", dir]);
  try {
    await router.waitFor(/Listening on .*OSC 1.1/);
    const client = await TestClient.connect(port);
    try {
      await client.register("ana", "band", "TopSecretUserPw", "TopSecretGroupPw");
      const eve = await TestClient.connect(port);
      await eve.register("ana", "band", "WrongGuessPw", "TopSecretGroupPw").catch(() => {});
      await eve.close();
    } finally {
      await client.close();
    }
    await router.waitFor(/ana@band left/);
  } finally {
    assert.equal(await router.stop("SIGINT"), 0);
  }
  const log = await Deno.readTextFile(`${dir}/tcposcrouter.log`);
  await Deno.remove(dir, { recursive: true });
  assert.match(log, /ana@band registered from 127\.0\.0\.1:\d+/);
  assert.match(log, /wrong_user_password/);
  for (const secret of ["TopSecretUserPw", "TopSecretGroupPw", "WrongGuessPw"]) {
    assert.ok(!log.includes(secret), `the log contains a password: ${secret}`);
    assert.ok(!router.stderr.includes(secret));
  }
});

Deno.test("cli: --log-level debug logs each packet's address and type tags, never argument values", async () => {
  const port = freePort();
  const router = new Router(["--osc-port", String(port), "--osc11-port", String(freePort()), "--log-level", "debug"]);
  try {
    await router.waitFor(/Listening on .*OSC 1.1/);
    const a = await TestClient.connect(port);
    const b = await TestClient.connect(port);
    try {
      await a.register("ana", "band", "SecretUserPw", "SecretGroupPw");
      await b.register("bob", "band", "SecretUserPw2", "SecretGroupPw");
      await a.sendMsg("/note", { type: "i", value: 60 }, { type: "s", value: "VisibleOnlyAtDebug" });
      assert.equal((await b.nextMessage()).address, "/note");
    } finally {
      await a.close();
      await b.close();
    }
    await router.waitFor(/ana@band\) sent \/note ,is/);
  } finally {
    assert.equal(await router.stop(), 0);
  }
  assert.match(router.stderr, /\[DBG\]/);
  assert.match(router.stderr, /sent \/oscrouter\/register ,ssssi/);
  for (const secret of ["SecretUserPw", "SecretGroupPw", "VisibleOnlyAtDebug"]) {
    assert.ok(!router.stderr.includes(secret), `the debug log contains ${secret}`);
  }
});

Deno.test("cli: the bridge without its passwords exits 2 (the cases: tests/cli/options_test.ts)", async () => {
  const { code, stderr } = await runToEnd(["bridge", "--server", "127.0.0.1:9", "--user", "u", "--group", "g"], {
    TCPOSCROUTER_USER_PASSWORD: "",
  });
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^error: set TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD, or give --password-file/,
  );
});

Deno.test("cli: bridge relays a UDP app into a group, passwords from a file; SIGTERM exits 0", async () => {
  const { default: dgram } = await import("node:dgram");
  const routerPort = freePort();
  const router = new Router(["--osc-port", String(routerPort), "--disable-osc11"]);
  const dir = await Deno.makeTempDir();
  const app = dgram.createSocket("udp4");
  const received: Uint8Array[] = [];
  app.on("message", (m: Uint8Array) => received.push(new Uint8Array(m)));
  await new Promise<void>((resolve) => app.bind(0, "127.0.0.1", () => resolve()));
  const listen = freePort();
  await Deno.writeTextFile(`${dir}/passwords`, "bridgeUserPw\nbandPw\n");
  const bridge = new Router([
    "bridge",
    "--server",
    `127.0.0.1:${routerPort}`,
    "--user",
    "app",
    "--group",
    "band",
    "--listen-udp",
    `127.0.0.1:${listen}`,
    "--send-udp",
    `127.0.0.1:${app.address().port}`,
    "--password-file",
    `${dir}/passwords`,
  ]);
  const client = await (async () => {
    await router.waitFor(/Listening on/);
    await bridge.waitFor(/Registered as app@band/);
    const c = await TestClient.connect(routerPort);
    assert.deepEqual(await c.register("sc", "band", "x", "bandPw"), ["app", "sc"]);
    return c;
  })();
  try {
    const { encodeMessage } = await import("../../lib/osc/codec.ts");
    const packet = encodeMessage({ address: "/xy", args: [{ type: "f", value: 0.5 }, { type: "f", value: 0.25 }] });
    await new Promise<void>((resolve) => app.send(packet, listen, "127.0.0.1", () => resolve()));
    assert.deepEqual([...(await client.next())], [...packet]);
    await client.sendMsg("/toApp");
    const deadline = Date.now() + 3000;
    while (!received.some((p) => p[1] === 0x74 && p[2] === 0x6f) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(received.some((p) => new TextDecoder().decode(p).startsWith("/toApp")), "the app got /toApp");
  } finally {
    await client.close();
    assert.equal(await bridge.stop(), 0);
    assert.equal(await router.stop(), 0);
    await new Promise<void>((resolve) => app.close(() => resolve()));
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(!bridge.stderr.includes("bridgeUserPw") && !router.stderr.includes("bridgeUserPw"));
});

Deno.test("cli: the log file rotates at --log-max-bytes and keeps --log-max-files", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const router = new Router([
    "--osc-port",
    String(port),
    "--osc11-port",
    String(freePort()),
    "--log-dir",
    dir,
    "--log-max-bytes",
    "2048",
    "--log-max-files",
    "2",
  ]);
  try {
    await router.waitFor(/Listening on .*OSC 1.1/);
    for (let i = 0; i < 20; i++) {
      const c = await TestClient.connect(port);
      await c.register(`user${i}`);
      await c.close();
    }
    await router.waitFor(/user19@band left/);
  } finally {
    assert.equal(await router.stop(), 0);
  }
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  await Deno.remove(dir, { recursive: true });
  assert.ok(files.includes("tcposcrouter.log") && files.includes("tcposcrouter.log.1"), files.join(", "));
  assert.ok(!files.includes("tcposcrouter.log.3"), `more files than --log-max-files: ${files.join(", ")}`);
});
