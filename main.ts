/**
 * tcposcrouter: an OpenSoundControl router over TCP.
 *
 * CLI flags -> config; logging; start the server; SIGINT/SIGTERM -> graceful stop.
 *
 * @module
 */

import process from "node:process";
import { getLogger } from "@logtape/logtape";
import denoConfig from "./deno.json" with { type: "json" };
import { closeLogging, LogDirError, setupLogging } from "./lib/cli/logging.ts";
import { parseCommandLine } from "./lib/cli/options.ts";
import { ListenError, Server } from "./lib/server/server.ts";
import { startSummary } from "./lib/server/summary.ts";

const VERSION: string = denoConfig.version;
const logger = getLogger(["tcposcrouter", "main"]);

async function main(): Promise<number> {
  const parsed = parseCommandLine(Deno.args, process.env, VERSION, {
    out: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
    err: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
  });
  if (parsed.kind === "exit") return parsed.code;
  const { config } = parsed;

  let logPath: string | undefined;
  try {
    logPath = await setupLogging(config.log);
  } catch (error) {
    if (!(error instanceof LogDirError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }

  let server: Server;
  try {
    server = Server.start(config.server);
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    logger.error("{message}", { message: error.message });
    await closeLogging();
    return 1;
  }
  logger.info("tcposcrouter {version} started{log}", {
    version: VERSION,
    log: logPath ? `, logging to ${logPath}` : "",
  });
  for (const l of server.listening) {
    const host = l.hostname.includes(":") ? `[${l.hostname}]` : l.hostname;
    logger.info("Listening on {address} for OSC {osc} ({framing})", {
      address: `${host}:${l.port}`,
      osc: l.framing === "slip" ? "1.1" : "1.0",
      framing: l.framing === "slip" ? "SLIP" : "length prefix",
    });
  }
  const summary = startSummary(server, 60_000);

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const onSignal = (signal: string) => () => stop(signal);
  const handlers = signals.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);

  const signal = await stopped;
  logger.info("{signal} received: stopping (connections get up to 1 s to flush)", { signal });
  for (const [s, handler] of handlers) Deno.removeSignalListener(s, handler);
  summary.stop();
  await server.close();
  logger.info("Stopped");
  await closeLogging();
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main();
  } catch (error) {
    console.error("tcposcrouter failed:", error);
    Deno.exitCode = 1;
  }
}
