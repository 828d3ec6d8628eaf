/**
 * Helpers to run the shipped examples as shipped: a router on the default ports they name
 * (127.0.0.1:55555 and 55556), the Pd patch clicked through a driver, client.ts run with the
 * README's command.
 */
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const PD_PATCH = `${ROOT}examples/puredata/tcposcrouter-client.pd`;

/** A router on the ports the examples name; a clear error when another router holds them. */
export async function withDefaultRouter(body: () => Promise<void>): Promise<void> {
  let server: Server | undefined;
  // Both ports lie in Linux's ephemeral range: a client socket of an earlier test may hold one for
  // a moment (.ci/run reserves them; a developer's machine may not), so a busy port is retried briefly.
  const deadline = Date.now() + 10_000;
  while (server === undefined) {
    try {
      server = Server.start({ ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1" });
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(
          `the shipped examples use 127.0.0.1:55555 and 55556, which are busy (${error}); stop the router running there`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    await body();
  } finally {
    await server.close();
  }
}

/** Waits until `text()` matches `pattern`; the error shows what was there. */
export async function waitFor(text: () => string, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(text())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in:\n${text()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A collected output stream. */
export function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  let text = "";
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  return { text: () => text, done };
}

/**
 * Stock Pure Data (`pd -nogui -noprefs`, no `-path`) with the shipped patch open, and a driver
 * patch that forwards what the test sends over FUDI to the patch's canvas: mouse clicks on its
 * message boxes, exactly as a person clicks them.
 */
export class PureData {
  readonly output: { text: () => string; done: Promise<void> };
  #child: Deno.ChildProcess;
  #driver: Deno.TcpConn;
  #dir: string;
  /** The patch's message boxes: their text and top-left corner. */
  readonly boxes: { text: string; x: number; y: number }[];

  private constructor(child: Deno.ChildProcess, driver: Deno.TcpConn, dir: string, boxes: PureData["boxes"]) {
    this.#child = child;
    this.#driver = driver;
    this.#dir = dir;
    this.output = collect(child.stderr);
    this.boxes = boxes;
  }

  static async open(patch = PD_PATCH): Promise<PureData> {
    const boxes = [...(await Deno.readTextFile(patch)).matchAll(/^#X msg (\d+) (\d+) (.*);$/gm)]
      .map((m) => ({ x: Number(m[1]), y: Number(m[2]), text: m[3]!.replaceAll(" \\,", ",") }));
    const dir = await Deno.makeTempDir();
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = probe.addr.port;
    probe.close();
    const canvas = `pd-${patch.split("/").at(-1)}`;
    await Deno.writeTextFile(
      `${dir}/driver.pd`,
      `#N canvas 0 0 400 300 12;\n#X obj 10 10 netreceive ${port};\n#X obj 10 40 s ${canvas};\n#X connect 0 0 1 0;\n`,
    );
    const child = new Deno.Command("pd", {
      args: ["-nogui", "-noprefs", "-nosound", "-nrt", "-stderr", "-open", patch, "-open", `${dir}/driver.pd`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let driver: Deno.TcpConn | undefined;
    for (const deadline = Date.now() + 15_000; driver === undefined;) {
      try {
        driver = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch (error) {
        if (Date.now() > deadline) {
          child.kill("SIGKILL");
          await child.status;
          throw new Error(`Pd's driver never listened: ${error}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return new PureData(child, driver, dir, boxes);
  }

  /** Clicks the message box whose text is `text` (it must exist in the patch). */
  async click(text: string): Promise<void> {
    const box = this.boxes.find((b) => b.text === text);
    if (box === undefined) throw new Error(`no message box '${text}' in the patch: ${JSON.stringify(this.boxes)}`);
    const [x, y] = [box.x + 5, box.y + 5];
    await this.#driver.write(new TextEncoder().encode(`mouse ${x} ${y} 0 0;\nmouseup ${x} ${y} 0;\n`));
  }

  /** Stops Pd and returns everything it printed. */
  async close(): Promise<string> {
    this.#driver.close();
    this.#child.kill("SIGTERM");
    await this.#child.status;
    await this.output.done;
    await Deno.remove(this.#dir, { recursive: true });
    return this.output.text();
  }
}

/** The command the README gives for examples/client.ts: environment, flags and arguments. */
export async function readmeClientCommand(): Promise<{ env: Record<string, string>; flags: string[]; args: string[] }> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const line = /^(TCPOSCROUTER_\S+ .*deno run .*examples\/client\.ts.*)$/m.exec(readme)?.[1];
  if (line === undefined) throw new Error("README.md gives no command for examples/client.ts");
  const words = line.split(" ");
  const run = words.indexOf("deno");
  const script = words.indexOf("examples/client.ts");
  const env = Object.fromEntries(words.slice(0, run).map((w) => w.split("=") as [string, string]));
  return { env, flags: words.slice(run + 2, script), args: words.slice(script + 1) };
}

/**
 * Splits SuperCollider code into what a person evaluates one at a time: a block between a line
 * "(" and a line ")", or else one line; blank and comment lines are skipped.
 */
export function scUnits(code: string): string[] {
  const units: string[] = [];
  let block: string[] | undefined;
  for (const line of code.split("\n")) {
    if (block !== undefined) {
      block.push(line);
      if (line.trim() === ")") {
        units.push(block.join("\n"));
        block = undefined;
      }
    } else if (line.trim() === "(") block = [line];
    else if (line.trim() !== "" && !line.trim().startsWith("//")) units.push(line);
  }
  if (block !== undefined) throw new Error(`unclosed block: ${block.join("\n")}`);
  return units;
}

/**
 * Headless sclang evaluating `units` one by one (tests/interop/sclang_blocks.scd), with the
 * classes in tests/interop/sc_classes (the OSCRouterClient stand-in) on its class path.
 */
export class Sclang {
  readonly output: { text: () => string; done: Promise<void> };
  #child: Deno.ChildProcess;
  #dir: string;

  private constructor(child: Deno.ChildProcess, dir: string) {
    this.#child = child;
    this.#dir = dir;
    this.output = collect(child.stdout);
  }

  static async start(units: string[], pauseSeconds = 1): Promise<Sclang> {
    const dir = await Deno.makeTempDir();
    for (const [i, unit] of units.entries()) await Deno.writeTextFile(`${dir}/unit-${i}.scd`, unit);
    // SC_CLASSES_DIR: another directory of classes, e.g. the HyperDisCo quark's Classes, to run
    // the same tests against the real OSCRouterClient.
    const classes = Deno.env.get("SC_CLASSES_DIR") ?? new URL("./sc_classes", import.meta.url).pathname;
    await Deno.writeTextFile(
      `${dir}/conf.yaml`,
      `includePaths: [${JSON.stringify(classes)}]\nexcludePaths: []\npostInlineWarnings: false\n`,
    );
    const child = new Deno.Command("sclang", {
      args: ["-l", `${dir}/conf.yaml`, new URL("./sclang_blocks.scd", import.meta.url).pathname],
      env: {
        UNITS_DIR: dir,
        UNITS: String(units.length),
        PAUSE: String(pauseSeconds),
        QT_QPA_PLATFORM: "offscreen",
        QTWEBENGINE_DISABLE_SANDBOX: "1",
        QTWEBENGINE_CHROMIUM_FLAGS: "--no-sandbox",
        HOME: dir,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    return new Sclang(child, dir);
  }

  /** Lets the example go on to its "Leave" unit. */
  async leave(): Promise<void> {
    await Deno.writeTextFile(`${this.#dir}/go`, "");
  }

  /** Waits for sclang to finish (killing it after `timeoutMs`) and returns what it posted. */
  async finish(timeoutMs = 30_000): Promise<string> {
    await this.leave();
    const guard = setTimeout(() => this.#child.kill("SIGKILL"), timeoutMs);
    await this.#child.status;
    clearTimeout(guard);
    await this.output.done;
    await Deno.remove(this.#dir, { recursive: true });
    return this.output.text();
  }
}
