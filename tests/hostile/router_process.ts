/** main.ts as a subprocess, as an operator runs it: free ports, a log directory, RSS from /proc. */

/** The router to run: this tree's main.ts, or another's (to measure a "before") with TCPOSCROUTER_MAIN. */
const MAIN = Deno.env.get("TCPOSCROUTER_MAIN") ?? new URL("../../main.ts", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 (closed again: the router binds it a moment later). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Flags of `main.ts --help`, to tell which of the flags a suite wants this build knows. */
export async function knownFlags(): Promise<Set<string>> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "--help"],
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).output();
  return new Set(new TextDecoder().decode(stdout).match(/--[a-z0-9-]+/g) ?? []);
}

/** Options of {@linkcode RouterProcess.start}. */
export interface RouterProcessOptions {
  /** Extra flags. */
  args?: string[];
  /** Open files allowed (as the systemd unit's LimitNOFILE); needs prlimit. */
  maxOpenFiles?: number;
  /** Log to a temporary --log-dir (default true). */
  logDir?: boolean;
  /** Serve --http-port (default true). */
  http?: boolean;
  /** Where stderr goes: "keep" keeps the last lines, "null" discards (default keep). */
  stderr?: "keep" | "null";
}

/** A running router. */
export class RouterProcess {
  readonly child: Deno.ChildProcess;
  readonly oscPort: number;
  readonly slipPort: number;
  readonly httpPort: number;
  readonly logDir: string | undefined;
  /** The last stderr lines (bounded). */
  readonly stderrTail: string[] = [];
  #exit: Deno.CommandStatus | undefined;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #reading: Promise<void>;

  private constructor(
    child: Deno.ChildProcess,
    ports: { osc: number; slip: number; http: number },
    logDir: string | undefined,
    keep: boolean,
  ) {
    this.child = child;
    this.oscPort = ports.osc;
    this.slipPort = ports.slip;
    this.httpPort = ports.http;
    this.logDir = logDir;
    this.#status = child.status.then((status) => this.#exit = status);
    this.#reading = keep ? this.#readStderr() : Promise.resolve();
  }

  async #readStderr(): Promise<void> {
    let partial = "";
    for await (const chunk of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      this.stderrTail.push(...lines);
      if (this.stderrTail.length > 400) this.stderrTail.splice(0, this.stderrTail.length - 200);
    }
  }

  /**
   * Starts the router and waits until it serves (its HTTP line, or its listeners, are logged).
   *
   * @throws {Error} with the router's stderr when it exits first (e.g. an unknown flag: exit code 2)
   */
  static async start(options: RouterProcessOptions = {}): Promise<RouterProcess> {
    const ports = { osc: freePort(), slip: freePort(), http: freePort() };
    const logDir = options.logDir === false ? undefined : await Deno.makeTempDir({ prefix: "tcposcrouter-hostile-" });
    const http = options.http ?? true;
    const routerArgs = [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      MAIN,
      "--host",
      "127.0.0.1",
      "--osc-port",
      String(ports.osc),
      "--osc11-port",
      String(ports.slip),
      ...(http ? ["--http-port", String(ports.http), "--http-host", "127.0.0.1"] : []),
      ...(logDir ? ["--log-dir", logDir] : []),
      ...(options.args ?? []),
    ];
    const useLimit = options.maxOpenFiles !== undefined;
    const command = useLimit ? "prlimit" : Deno.execPath();
    const args = useLimit
      ? [`--nofile=${options.maxOpenFiles}:${options.maxOpenFiles}`, "--", Deno.execPath(), ...routerArgs]
      : routerArgs;
    const keep = (options.stderr ?? "keep") === "keep";
    const child = new Deno.Command(command, {
      args,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: keep ? "piped" : "null",
    }).spawn();
    const router = new RouterProcess(child, ports, logDir, keep);
    const deadline = Date.now() + 20_000;
    while (!(await router.#serving(http))) {
      if (router.#exit !== undefined) {
        await router.#reading;
        throw new Error(
          `main.ts exited with code ${router.#exit.code} at start:\n${router.stderrTail.join("\n")}`,
        );
      }
      if (Date.now() > deadline) {
        await router.stop();
        throw new Error(`main.ts did not start in 20 s:\n${router.stderrTail.join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return router;
  }

  async #serving(http: boolean): Promise<boolean> {
    for (const port of http ? [this.oscPort, this.slipPort, this.httpPort] : [this.oscPort, this.slipPort]) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
      } catch {
        return false;
      }
    }
    return true;
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Whether the process still runs. */
  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** Its exit status, once it has exited. */
  get exit(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** Resident memory now, in bytes (VmRSS); 0 once it has exited. */
  rssBytes(): number {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
      const kb = status.match(/^VmRSS:\s+(\d+) kB/m);
      return kb ? Number(kb[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  /** SIGTERM, then SIGKILL after 5 s; returns the exit status. */
  async stop(): Promise<Deno.CommandStatus> {
    if (this.alive) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // exited meanwhile
      }
      const timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
      }, 5000);
      await this.#status;
      clearTimeout(timer);
    }
    await this.#reading;
    return this.#exit!;
  }

  /** The text of the log files (current and rotated), oldest first. */
  async logText(): Promise<string> {
    if (this.logDir === undefined) return "";
    const names = [...Deno.readDirSync(this.logDir)].map((e) => e.name).filter((n) => n.startsWith("tcposcrouter.log"));
    names.sort((a, b) => (Number(b.split(".")[2] ?? 0)) - (Number(a.split(".")[2] ?? 0)));
    let text = "";
    for (const name of names) text += await Deno.readTextFile(`${this.logDir}/${name}`);
    return text;
  }

  /** Removes the log directory. */
  async cleanUp(): Promise<void> {
    if (this.logDir !== undefined) await Deno.remove(this.logDir, { recursive: true }).catch(() => {});
  }
}

/**
 * A helper script as a subprocess that prints a first line when it is under way, runs until its stdin closes, and
 * prints its result as the last line.
 */
class Helper {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
  }

  /** Runs `script` with `args` (under `nice -n N` if `niceness` > 0) and waits for its first line, `ready`. */
  static async start(script: string, args: string[], ready: string, niceness = 0): Promise<Helper> {
    const deno = [Deno.execPath(), "run", "--allow-net", "--allow-read", new URL(script, import.meta.url).pathname];
    const command = niceness > 0 ? ["nice", "-n", String(niceness), ...deno, ...args] : [...deno, ...args];
    const child = new Deno.Command(command[0]!, {
      args: command.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const helper = new Helper(child);
    const first = await helper.#lines.next();
    if (first.done || first.value !== ready) {
      await helper.finish();
      throw new Error(`${script} did not start: ${first.done ? "no output" : first.value}`);
    }
    return helper;
  }

  /**
   * Closes its stdin and returns its last line once it has exited; kills it after `timeoutMs` (its last line is then
   * whatever it printed, usually nothing).
   */
  async finish(timeoutMs = 20_000): Promise<string | undefined> {
    await this.#stdin.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }, timeoutMs);
    let last: string | undefined;
    for (;;) {
      const line = await this.#lines.next();
      if (line.done) break;
      last = line.value;
    }
    await this.#child.status;
    clearTimeout(timer);
    return last;
  }
}

/** The probe (`probe.ts`) as a subprocess: a pair in group `quiet` measuring round trips. */
export class Probe {
  readonly #helper: Helper;

  private constructor(helper: Helper) {
    this.#helper = helper;
  }

  /** Starts the pair and waits until both are registered. */
  static async start(port: number, localAddress: string, ratePerSecond: number): Promise<Probe> {
    return new Probe(await Helper.start("./probe.ts", [String(port), localAddress, String(ratePerSecond)], "ready"));
  }

  /** Stops sending and returns the figures. */
  async stop(): Promise<ProbeResult> {
    const line = await this.#helper.finish();
    try {
      return JSON.parse(line ?? "");
    } catch {
      const error = `no result from the probe (killed after 20 s?): ${line}`;
      return { sent: 0, received: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, error };
    }
  }
}

/**
 * How much lower the attackers' CPU priority is than the router's (`nice -n`; HOSTILE_ATTACKER_NICE, default 10). On
 * the internet the attackers' CPU is not the router's; 19 starves them on a machine that is busy with other work.
 */
const ATTACKER_NICENESS = Number(Deno.env.get("HOSTILE_ATTACKER_NICE") ?? 10);

/** The attackers (`attacker.ts`) as a subprocess at a lower CPU priority ({@linkcode ATTACKER_NICENESS}). */
export class Attackers {
  readonly #helper: Helper;

  private constructor(helper: Helper) {
    this.#helper = helper;
  }

  /** Starts the named attacks against the router. */
  static async start(router: RouterProcess, names: readonly string[]): Promise<Attackers> {
    const args = [router.oscPort, router.slipPort, router.httpPort].map(String);
    args.push(names.map(encodeURIComponent).join(","));
    return new Attackers(await Helper.start("./attacker.ts", args, "started", ATTACKER_NICENESS));
  }

  /** Stops them (closing thousands of sockets at the lowest priority takes a while); returns what each sent. */
  async stop(): Promise<Record<string, string>> {
    const line = await this.#helper.finish(60_000);
    try {
      return JSON.parse(line ?? "");
    } catch {
      return { error: `no result from the attackers (killed after 60 s?): ${line}` };
    }
  }
}

/** What the probe measured. */
export interface ProbeResult {
  sent: number;
  received: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  error?: string;
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let partial = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    yield* parts;
  }
  if (partial) yield partial;
}
