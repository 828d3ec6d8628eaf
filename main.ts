/**
 * tcposcrouter: an OpenSoundControl router over TCP.
 *
 * CLI flags -> config; logging; start the server; SIGINT/SIGTERM -> graceful stop.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import denoConfig from "./deno.json" with { type: "json" };
import { closeLogging, LogDirError, setupLogging } from "./lib/cli/logging.ts";
import { Bridge, type BridgeRefusal } from "./lib/bridge/bridge.ts";
import { SourceFilterError } from "./lib/bridge/source_filter.ts";
import { type BridgeConfig, type Config, parseCommandLine, type ParseResult, UsageError } from "./lib/cli/options.ts";
import { errorMessage } from "./lib/util/error_text.ts";
import { type GroupsConfig, GroupsFileError, loadGroupsFile } from "./lib/access/groups_file.ts";
import { readSmallTextFile } from "./lib/access/read_small_file.ts";
import { hashPasswordLine, PasswordInputError } from "./lib/access/hash_password_command.ts";
import { UserListTimer } from "./lib/access/user_list_timer.ts";
import { Router } from "./lib/router/router.ts";
import { HttpListenError, type HttpServer, startHttp } from "./lib/http/http_server.ts";
import { ListenError, Server } from "./lib/server/server.ts";
import { startSummary } from "./lib/server/summary.ts";
import { connectInfo, connectLines, readInterfaceAddresses } from "./lib/net/interfaces.ts";
import type { NatsCluster } from "./lib/cluster/nats_cluster.ts";

const VERSION: string = denoConfig.version;
const logger = getLogger(["tcposcrouter", "main"]);

async function main(): Promise<number> {
  let parsed: ParseResult;
  try {
    parsed = parseCommandLine(Deno.args, Deno.env.toObject(), VERSION, { helpWidth: terminalColumns() });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
  if (parsed.kind === "print") {
    Deno.stdout.writeSync(new TextEncoder().encode(parsed.text));
    return 0;
  }
  if (parsed.kind === "bridge") return await runBridge(parsed.config);
  if (parsed.kind === "hash-password") return await runHashPassword(parsed.config.user);
  const { config } = parsed;

  let groups: GroupsConfig | undefined;
  if (config.access.groupsFile !== undefined) {
    try {
      groups = await loadGroupsFile(config.access.groupsFile);
    } catch (error) {
      if (!(error instanceof GroupsFileError)) throw error;
      console.error(`error: --groups ${error.message}`);
      return 2;
    }
  }

  let logPath: string | undefined;
  try {
    logPath = await setupLogging(config.log);
  } catch (error) {
    if (!(error instanceof LogDirError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }

  // The NATS client is loaded only with --cluster: a router alone pays nothing for it.
  let cluster: NatsCluster | undefined;
  if (config.cluster !== undefined) {
    const { NatsCluster, ClusterConfigError } = await import("./lib/cluster/nats_cluster.ts");
    try {
      // A connection waiting for its hash is not registered yet: one address may have as many waiting
      // as --max-unregistered-per-address allows it connections.
      cluster = await NatsCluster.start({
        ...config.cluster,
        maxHashesPerAddress: config.server.maxUnregisteredPerAddress,
      });
    } catch (error) {
      if (!(error instanceof ClusterConfigError)) throw error;
      console.error(`error: ${error.message}`);
      await closeLogging();
      return 2;
    }
  }
  const userLists = new UserListTimer(() => router.flushUserLists());
  const router = new Router({
    ...(cluster ? { cluster } : {}),
    ...(groups ? { groups } : {}),
    closed: config.access.closed,
    attempts: {
      registersPerSecond: config.access.registersPerSecond,
      registerBurst: Math.max(64, config.access.registersPerSecond),
    },
    onUserListsPending: (ms) => userLists.schedule(ms),
  });
  cluster?.attach(router);
  let server: Server;
  try {
    server = Server.start(config.server, router);
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    logger.error("{message}", { message: error.message });
    userLists.stop();
    await cluster?.stop();
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
        ...(cluster ? { cluster: () => cluster.status() } : {}),
      });
    } catch (error) {
      if (!(error instanceof HttpListenError || error instanceof TokenFileError)) throw error;
      logger.error("{message}", { message: error.message });
      await server.close();
      userLists.stop();
      await cluster?.stop();
      await closeLogging();
      return error instanceof TokenFileError ? 2 : 1;
    }
  }
  logConnectLines(server, http === undefined ? undefined : { hostname: config.http!.hostname, port: http.port });
  const summary = startSummary(server, 60_000);
  const stopReload = watchGroupsFile(config, router);

  const signal = await waitForSignal();
  logger.info("{signal} received: stopping (connections get up to 1 s to flush)", { signal });
  summary.stop();
  stopReload();
  await server.close();
  userLists.stop();
  await cluster?.stop();
  await http?.shutdown();
  logger.info("Stopped");
  await closeLogging();
  return 0;
}

/** Tells the operator which addresses and ports musicians use, and where the status page is. */
function logConnectLines(server: Server, http: { hostname: string; port: number } | undefined): void {
  const listening = server.listening;
  const info = connectInfo(
    {
      hostname: listening[0]?.hostname ?? server.options.hostname,
      lengthPrefixPort: listening.find((l) => l.framing === "length-prefix")?.port,
      slipPort: listening.find((l) => l.framing === "slip")?.port,
    },
    http,
    readInterfaceAddresses(),
  );
  for (const line of connectLines(info)) logger.info("{line}", { line });
}

/** The declared groups, for the log: counts only, never a name's password or a hash. */
function describeGroups(config: GroupsConfig): string {
  let users = 0;
  for (const group of config.groups.values()) users += group.users.size;
  return `${config.groups.size} groups, ${users} declared users`;
}

/**
 * Logs the groups file in force and re-reads it on SIGHUP (not on Windows): connections stay;
 * a bad file is logged and the old declarations stay in force.
 *
 * @returns a function that stops listening for SIGHUP
 */
function watchGroupsFile(config: Config, router: Router): () => void {
  const path = config.access.groupsFile;
  if (path === undefined) return () => {};
  logger.info("Groups file {path}: {counts}{closed}", {
    path,
    counts: describeGroups(router.groups),
    closed: config.access.closed ? "; closed: only these groups may be used" : "",
  });
  if (Deno.build.os === "windows") return () => {};
  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      try {
        const groups = await loadGroupsFile(path);
        router.setGroups(groups);
        logger.info("SIGHUP: re-read the groups file {path}: {counts}; connected members stay", {
          path,
          counts: describeGroups(groups),
        });
      } catch (error) {
        if (!(error instanceof GroupsFileError)) throw error;
        logger.error("SIGHUP: the groups file was not reloaded, the previous one stays in force: {error}", {
          error: error.message,
        });
      }
    });
  };
  Deno.addSignalListener("SIGHUP", reload);
  return () => Deno.removeSignalListener("SIGHUP", reload);
}

/** `tcposcrouter hash-password`: prints the groups file line for a password read without echo. */
async function runHashPassword(user: string | undefined): Promise<number> {
  const encoder = new TextEncoder();
  try {
    const line = await hashPasswordLine({
      isTerminal: Deno.stdin.isTerminal(),
      setRaw: (raw) => Deno.stdin.setRaw(raw),
      read: (buffer) => Deno.stdin.read(buffer),
      prompt: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    }, user);
    Deno.stdout.writeSync(encoder.encode(line + "\n"));
    return 0;
  } catch (error) {
    if (!(error instanceof PasswordInputError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  }
}

/** Bridge mode: a UDP app joins a group through a router (see `tcposcrouter bridge --help`). */
async function runBridge(config: BridgeConfig): Promise<number> {
  let passwords: { userPassword: string; groupPassword: string };
  try {
    passwords = "file" in config.passwords ? await readPasswordFile(config.passwords.file) : config.passwords;
  } catch (error) {
    if (!(error instanceof PasswordFileError)) throw error;
    console.error(`error: ${error.message}`);
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
    bridge = await Bridge.start({ ...config.bridge, ...passwords });
  } catch (error) {
    if (error instanceof SourceFilterError) {
      logger.error("{message}", { message: error.message });
      await closeLogging();
      return 2;
    }
    const { hostname, port } = config.bridge.listenUdp;
    logger.error("Cannot listen on UDP {address}: {error}; choose another with --listen-udp", {
      address: `${hostname}:${port}`,
      error: errorMessage(error),
    });
    await closeLogging();
    return 1;
  }
  // A refused register (wrong password or name) is not transient: retrying would only repeat it.
  let refusal: BridgeRefusal | undefined;
  const signal = await waitForSignal(bridge.refused.then((r) => void (refusal = r)));
  if (refusal !== undefined) {
    // The bridge has logged the router's reason; say what to do, once, and stop.
    logger.error(
      "Stopped: retrying cannot fix {code}. Check --user, --group and the passwords (TCPOSCROUTER_USER_PASSWORD " +
        "and TCPOSCROUTER_GROUP_PASSWORD, or --password-file), then start the bridge again",
      { code: refusal.code },
    );
    await bridge.stop();
    await closeLogging();
    return 1;
  }
  logger.info("{signal} received: stopping the bridge", { signal });
  await bridge.stop();
  await closeLogging();
  return 0;
}

/** --password-file cannot be used. */
class PasswordFileError extends Error {}

/** The two passwords from --password-file: the user's on the first line, the group's on the second. */
async function readPasswordFile(file: string): Promise<{ userPassword: string; groupPassword: string }> {
  let text: string;
  try {
    text = await readSmallTextFile(file, MAX_TOKEN_FILE_BYTES);
  } catch (error) {
    throw new PasswordFileError(`cannot read --password-file ${file}: ${errorMessage(error)}`);
  }
  const [userPassword, groupPassword] = text.split(/\r?\n/);
  if (userPassword === undefined || groupPassword === undefined) {
    throw new PasswordFileError(
      `--password-file ${file} needs two lines: the user password, then the group password`,
    );
  }
  return { userPassword, groupPassword };
}

/** The largest --http-token-file read: a token is one line. */
const MAX_TOKEN_FILE_BYTES = 4096;

/** --http-token-file cannot be used. */
class TokenFileError extends Error {}

/** The status page token: the first line of --http-token-file. */
async function readTokenFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readSmallTextFile(file, MAX_TOKEN_FILE_BYTES);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : errorMessage(error);
    throw new TokenFileError(`cannot read --http-token-file ${file}: ${why}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token === "") throw new TokenFileError(`--http-token-file ${file} is empty: put the token on its first line`);
  return token;
}

/** The terminal's width for help, when standard output is one. */
function terminalColumns(): number | undefined {
  return Deno.stdout.isTerminal() ? Deno.consoleSize().columns : undefined;
}

/**
 * Resolves with the name of the first SIGINT or SIGTERM (SIGBREAK on Windows), or with "" once
 * `until` settles first; the signal listeners are removed either way.
 */
async function waitForSignal(until?: Promise<unknown>): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  until?.then(() => resolve(""), () => resolve(""));
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
    await closeLogging().catch(() => {}); // write what the log sinks still hold
  }
}
