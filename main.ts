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
import { Bridge } from "./lib/bridge/bridge.ts";
import { type BridgeConfig, parseCommandLine } from "./lib/cli/options.ts";
import { HttpListenError, type HttpServer, startHttp } from "./lib/http/http_server.ts";
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
  if (parsed.kind === "bridge") return await runBridge(parsed.config);
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
  let http: HttpServer | undefined;
  if (config.http !== undefined) {
    const { allowOrigins, allowHosts, tokenFile } = config.http;
    let token = config.http.token;
    try {
      if (tokenFile !== undefined) token = await readTokenFile(tokenFile);
      http = await startHttp(server, {
        hostname: config.http.hostname,
        port: config.http.port,
        version: VERSION,
        access: { allowOrigins, allowHosts, token },
      });
    } catch (error) {
      if (!(error instanceof HttpListenError || error instanceof TokenFileError)) throw error;
      logger.error("{message}", { message: error.message });
      await server.close();
      await closeLogging();
      return error instanceof TokenFileError ? 2 : 1;
    }
  }
  const summary = startSummary(server, 60_000);

  const signal = await waitForSignal();
  logger.info("{signal} received: stopping (connections get up to 1 s to flush)", { signal });
  summary.stop();
  await server.close();
  await http?.shutdown();
  logger.info("Stopped");
  await closeLogging();
  return 0;
}

/** Bridge mode: a UDP app joins a group through a router (see `tcposcrouter bridge --help`). */
async function runBridge(config: BridgeConfig): Promise<number> {
  let passwords: [string, string];
  try {
    passwords = await readPasswords(config.passwordFile);
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    return 2;
  }
  try {
    await setupLogging(config.log);
  } catch (error) {
    if (!(error instanceof LogDirError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
  let bridge: Bridge;
  try {
    bridge = await Bridge.start({ ...config.bridge, userPassword: passwords[0], groupPassword: passwords[1] });
  } catch (error) {
    const { hostname, port } = config.bridge.listenUdp;
    logger.error("Cannot listen on UDP {address}: {error}; choose another with --listen-udp", {
      address: `${hostname}:${port}`,
      error: error instanceof Error ? error.message : String(error),
    });
    await closeLogging();
    return 1;
  }
  const signal = await waitForSignal();
  logger.info("{signal} received: stopping the bridge", { signal });
  await bridge.stop();
  await closeLogging();
  return 0;
}

/** The two passwords: from --password-file (user, then group, one per line) or the environment. */
async function readPasswords(file: string | undefined): Promise<[string, string]> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      throw new Error(`cannot read --password-file ${file}: ${error instanceof Error ? error.message : error}`);
    }
    const [user, group] = text.split(/\r?\n/);
    if (user === undefined || group === undefined) {
      throw new Error(`--password-file ${file} needs two lines: the user password, then the group password`);
    }
    return [user, group];
  }
  const user = Deno.env.get("TCPOSCROUTER_USER_PASSWORD");
  const group = Deno.env.get("TCPOSCROUTER_GROUP_PASSWORD");
  if (user === undefined || group === undefined) {
    throw new Error(
      "set TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD, or give --password-file (passwords are never taken from the command line)",
    );
  }
  return [user, group];
}

/** --http-token-file cannot be used. */
class TokenFileError extends Error {}

/** The status page token: the first line of --http-token-file. */
async function readTokenFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : error instanceof Error ? error.message : error;
    throw new TokenFileError(`cannot read --http-token-file ${file}: ${why}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token === "") throw new TokenFileError(`--http-token-file ${file} is empty: put the token on its first line`);
  return token;
}

/** Resolves with the name of the first SIGINT or SIGTERM (SIGBREAK on Windows). */
async function waitForSignal(): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => [signal, () => resolve(signal)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  const signal = await promise;
  for (const [s, handler] of handlers) Deno.removeSignalListener(s, handler);
  return signal;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main();
  } catch (error) {
    console.error("tcposcrouter failed:", error);
    Deno.exitCode = 1;
  }
}
