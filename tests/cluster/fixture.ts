/** What the cluster tests share: nats-server processes and router instances (main.ts) as subprocesses. */

import { MAIN, PERMISSIONS } from "../main_process.ts";
import { TestClient, userNames } from "../server/test_client.ts";

/** A TCP port that was free a moment ago on 127.0.0.1 (several at once, all different). */
export function freePorts(count: number): number[] {
  const listeners = Array.from({ length: count }, () => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const ports = listeners.map((l) => l.addr.port);
  for (const l of listeners) l.close();
  return ports;
}

/** Waits until something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A child process whose stderr is kept, to print when a test fails. */
class Child {
  readonly #child: Deno.ChildProcess;
  readonly #drained: Promise<void>;
  log = "";

  constructor(command: string, args: string[], env: Record<string, string> = {}) {
    const cwd = new URL("../../", import.meta.url).pathname; // deno.json's imports and tests.lock
    this.#child = new Deno.Command(command, { args, cwd, env, stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this.log += chunk;
    };
    this.#drained = Promise.all([drain(this.#child.stdout), drain(this.#child.stderr)]).then(() => {});
  }

  /** Sends a signal (SIGKILL: a crash). */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }

  /** Stops it with SIGTERM (if it still runs) and waits for it. */
  async stop(): Promise<Deno.CommandStatus> {
    this.kill("SIGTERM");
    const status = await this.#child.status;
    await this.#drained;
    return status;
  }

  /** Waits for it to end (after `kill`). */
  async ended(): Promise<Deno.CommandStatus> {
    const status = await this.#child.status;
    await this.#drained;
    return status;
  }
}

/** One nats-server with JetStream, on an ephemeral port, its store in a temporary directory. */
export class Nats extends Child {
  readonly port: number;
  readonly url: string;
  /** A store made here is removed by `stop`. */
  #ownStore: string | undefined;

  private constructor(port: number, args: string[]) {
    super("nats-server", args);
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
  }

  /** Stops the server and removes the store it was given none for. */
  override async stop(): Promise<Deno.CommandStatus> {
    const status = await super.stop();
    if (this.#ownStore !== undefined) await Deno.remove(this.#ownStore, { recursive: true }).catch(() => {});
    return status;
  }

  /**
   * Starts one server, or one node of a NATS cluster (`routes`: the other nodes' cluster ports).
   *
   * @param storeDir JetStream's store (kept across a restart)
   */
  static async start(
    options: {
      port?: number;
      storeDir?: string;
      node?: { name: string; clusterPort: number; routes: number[] };
      /** More arguments (e.g. --user/--pass: a test may put secrets on a command line). */
      extra?: string[];
    } = {},
  ): Promise<Nats> {
    const port = options.port ?? freePorts(1)[0]!;
    const storeDir = options.storeDir ?? await Deno.makeTempDir({ prefix: "nats-js-" });
    const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
    if (options.node !== undefined) {
      args.push(
        "--server_name",
        options.node.name,
        "--cluster_name",
        "testcluster",
        "--cluster",
        `nats://127.0.0.1:${options.node.clusterPort}`,
        "--routes",
        options.node.routes.map((p) => `nats://127.0.0.1:${p}`).join(","),
      );
    }
    const nats = new Nats(port, [...args, ...options.extra ?? []]);
    if (options.storeDir === undefined) nats.#ownStore = storeDir;
    await waitForPort(port);
    return nats;
  }
}

/** A router instance (main.ts) in a cluster. */
export class RouterProcess extends Child {
  readonly port: number;
  readonly httpPort: number;

  private constructor(port: number, httpPort: number, args: string[], env: Record<string, string>) {
    super(Deno.execPath(), args, env);
    this.port = port;
    this.httpPort = httpPort;
  }

  /**
   * Starts main.ts with `--cluster` and waits until it listens.
   *
   * @param natsUrls the NATS servers
   * @param extra more flags
   */
  static async start(
    natsUrls: string[],
    name: string,
    extra: string[] = [],
    env: Record<string, string> = {},
  ): Promise<RouterProcess> {
    const [port, httpPort] = freePorts(2) as [number, number];
    const args = [
      "run",
      "--frozen",
      "--lock=tests.lock",
      ...PERMISSIONS,
      MAIN,
      "--host",
      "127.0.0.1",
      "--osc-port",
      String(port),
      "--disable-osc11",
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(httpPort),
      "--cluster",
      natsUrls.join(","),
      "--cluster-name",
      name,
      ...extra,
    ];
    const router = new RouterProcess(port, httpPort, args, env);
    try {
      await waitForPort(port, 30_000);
    } catch (error) {
      await router.stop();
      throw new Error(`${error}\n${router.log}`);
    }
    return router;
  }

  /** The instance's /status.json. */
  async status(): Promise<Record<string, unknown>> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/status.json`);
    return await response.json();
  }

  /** The instance's /metrics text. */
  async metrics(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
    return await response.text();
  }
}

/** Reads packets until a user list equal to `expected` arrives (other packets are skipped). */
export async function waitForList(client: TestClient, expected: string[], timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string[] | undefined;
  while (Date.now() < deadline) {
    let message;
    try {
      message = await client.nextMessage(Math.max(1, deadline - Date.now()));
    } catch {
      break;
    }
    if (message.address !== "/oscrouter/userlist") continue;
    last = userNames(message);
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
  }
  throw new Error(
    `user list ${JSON.stringify(expected)} did not come within ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
  );
}

/** Connects and registers; returns the client and the user list it got. */
export async function join(
  port: number,
  user: string,
  group: string,
  userPassword = "upw",
  groupPassword = "gpw",
): Promise<{ client: TestClient; list: string[] }> {
  const client = await TestClient.connect(port);
  try {
    const list = await client.register(user, group, userPassword, groupPassword);
    return { client, list };
  } catch (error) {
    await client.close();
    throw error;
  }
}

/** What `withTwoInstances` gives its body: the NATS server, two instances, and a list of clients to close. */
export interface TwoInstances {
  nats: Nats;
  a: RouterProcess;
  b: RouterProcess;
  clients: TestClient[];
}

/**
 * Starts NATS and two instances of cluster `name`, runs `body`, prints the first instance's log
 * if it throws, then closes the clients it listed and stops the instances and NATS.
 */
export async function withTwoInstances(name: string, body: (cluster: TwoInstances) => Promise<void>): Promise<void> {
  const nats = await Nats.start();
  const a = await RouterProcess.start([nats.url], name);
  const b = await RouterProcess.start([nats.url], name);
  const clients: TestClient[] = [];
  try {
    await body({ nats, a, b, clients });
  } catch (error) {
    console.error(a.log.slice(-3000));
    throw error;
  } finally {
    for (const c of clients) await c.close();
    await a.stop();
    await b.stop();
    await nats.stop();
  }
}
