/** Starts a real server on free loopback ports for one test. */
import { DEFAULT_SERVER_OPTIONS, Server, type ServerOptions } from "../../lib/server/server.ts";

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
