/** Starts a real server on free loopback ports for one test. */
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { DEFAULT_SERVER_OPTIONS, Server, type ServerOptions } from "../../lib/server/server.ts";
import { s, TestClient } from "./test_client.ts";

export interface Ports {
  server: Server;
  lp: number;
  slip: number;
}

export async function withServer(overrides: Partial<ServerOptions>, body: (ports: Ports) => Promise<void>) {
  const server = Server.start({
    ...DEFAULT_SERVER_OPTIONS,
    hostname: "127.0.0.1",
    lengthPrefixPort: 0,
    slipPort: 0,
    ...overrides,
  });
  const port = (framing: string) => server.listening.find((l) => l.framing === framing)?.port ?? -1;
  try {
    await body({ server, lp: port("length-prefix"), slip: port("slip") });
  } finally {
    await server.close();
  }
}

/** Waits until `condition` holds, or fails after `timeoutMs`. */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Three users in band: `sender` and `fast` (test clients, user lists drained), and `slow`, a raw
 * connection that registers by hand and then never reads: the shape of every slow-consumer test.
 */
export async function withSlowReceiver(
  server: Server,
  lp: number,
): Promise<{ sender: TestClient; fast: TestClient; slow: Deno.TcpConn; close: () => Promise<void> }> {
  const sender = await TestClient.connect(lp);
  const fast = await TestClient.connect(lp);
  const slow = await Deno.connect({ hostname: "127.0.0.1", port: lp });
  const close = async () => {
    await sender.close();
    await fast.close();
    slow.close();
  };
  try {
    await sender.register("sender");
    await fast.register("fast");
    await slow.write(encodeLengthPrefixFrame(encodeMessage({
      address: "/oscrouter/register",
      args: [s("slow"), s("p"), s("band"), s("gpw")],
    })));
    await eventually(() => server.router.userCount === 3, "slow registered");
    await eventually(() => sender.queued >= 2 && fast.queued >= 1, "user lists arrive");
    while (sender.queued > 0) await sender.next();
    while (fast.queued > 0) await fast.next();
  } catch (error) {
    await close();
    throw error;
  }
  return { sender, fast, slow, close };
}
