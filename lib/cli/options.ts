/**
 * The command line: flags compatible with the original Python tcposcrouter, plus the
 * operator's limits, each also settable through a `TCPOSCROUTER_*` environment variable.
 *
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import type { BridgeOptions, Endpoint } from "../bridge/bridge.ts";
import { DEFAULT_SERVER_OPTIONS, type ServerOptions } from "../server/server.ts";

/** Log levels, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** One of the log levels. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Log line formats. */
export const LOG_FORMATS = ["text", "json"] as const;
/** One of the log formats. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Logging settings. */
export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
  /** Directory for `tcposcrouter.log`; undefined logs to stderr only. */
  dir: string | undefined;
  maxFileBytes: number;
  maxFiles: number;
}

/** Everything the command line decides. */
export interface Config {
  server: ServerOptions;
  /** The status page, metrics and WebSocket port; undefined when off. */
  http: HttpConfig | undefined;
  log: LogOptions;
  /** Groups the operator declares (`--groups`, `--closed`). */
  access: AccessOptions;
  /** Other instances to behave as one router with, on NATS (`--cluster`); undefined: alone. */
  cluster?: ClusterConfig | undefined;
}

/** `--cluster` and its credentials (from a file or the environment, never the command line). */
export interface ClusterConfig {
  /** NATS server URLs. */
  servers: string[];
  /** The cluster's name (its bucket and subjects on NATS). */
  name: string;
  /** Copies of the shared state in a NATS cluster. */
  replicas: number;
  credsFile: string | undefined;
  caFile: string | undefined;
  /** From TCPOSCROUTER_CLUSTER_USER, TCPOSCROUTER_CLUSTER_PASSWORD, TCPOSCROUTER_CLUSTER_TOKEN. */
  user: string | undefined;
  password: string | undefined;
  token: string | undefined;
}

/** The groups file and closed mode. */
export interface AccessOptions {
  /** The groups file; undefined: no declared groups (first come, first served). */
  groupsFile: string | undefined;
  /** Only declared groups may be used. */
  closed: boolean;
  /** Registers one address may make per second (the burst is the larger of 64 and this). */
  registersPerSecond: number;
}

/** What the hash-password subcommand decides. */
export interface HashPasswordConfig {
  /** Print `NAME = "..."` for a user entry instead of `password = "..."`. */
  user: string | undefined;
}

/** The HTTP port's settings. */
export interface HttpConfig {
  hostname: string;
  port: number;
  /** Page origins allowed to open /osc beside the router's own (`*`: any). */
  allowOrigins: string[];
  /** Host names the router answers to beside its own. */
  allowHosts: string[];
  /** The status page token from TCPOSCROUTER_HTTP_TOKEN, if set. */
  token: string | undefined;
  /** File whose first line is the status page token (read at start). */
  tokenFile: string | undefined;
}

/** What the bridge subcommand decides. */
export interface BridgeConfig {
  bridge: Omit<BridgeOptions, "userPassword" | "groupPassword">;
  /** File with the user password on its first line and the group password on its second. */
  passwordFile: string | undefined;
  log: LogOptions;
}

/** A usage error: bad flags; exit code 2. */
export class UsageError extends Error {
  /** @param message what is wrong and how to fix it */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Largest packet size the length prefix allows (its first byte must stay 0x00). */
export const MAX_PACKET_BYTES_LIMIT = 16 * 1024 * 1024 - 1;

function integer(min: number, max: number, unit = "") {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}${unit}, got '${text}'.`);
    }
    return value;
  };
}

const port = integer(1, 65535);

/** A comma-separated list; empty items are dropped. */
function list(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/** Parses "host:port", "[ipv6]:port" or ":port" (all interfaces). */
function endpoint(text: string): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const portNumber = Number(m?.[3]);
  if (!m || portNumber < 1 || portNumber > 65535) {
    throw new InvalidArgumentError(
      `must be HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:57120), got '${text}'.`,
    );
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port: portNumber };
}

/** Boolean flags whose environment variable is set from `0`, `false`, `no`, `off` or "" means "not set". */
const BOOLEAN_ENV = [
  "TCPOSCROUTER_DISABLE_OSC10",
  "TCPOSCROUTER_DISABLE_OSC11",
  "TCPOSCROUTER_STRICT_FRAMING",
  "TCPOSCROUTER_CLOSED",
];

/** The logging options, shared by the router and the bridge. */
function addLogOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--log-dir <dir>", "also log to DIR/tcposcrouter.log, rotated by size").env("TCPOSCROUTER_LOG_DIR"),
    )
    .addOption(
      new Option("--log-level <level>", "lowest level logged").env("TCPOSCROUTER_LOG_LEVEL").choices(LOG_LEVELS)
        .default("info"),
    )
    .addOption(
      new Option("--log-format <format>", "log line format").env("TCPOSCROUTER_LOG_FORMAT").choices(LOG_FORMATS)
        .default("text"),
    )
    .addOption(
      new Option("--log-max-bytes <bytes>", "rotate the log file at this size").env("TCPOSCROUTER_LOG_MAX_BYTES")
        .argParser(integer(1024, 2 ** 40)).default(10 * 1024 * 1024),
    )
    .addOption(
      new Option("--log-max-files <count>", "rotated log files kept").env("TCPOSCROUTER_LOG_MAX_FILES")
        .argParser(integer(1, 1000)).default(5),
    );
}

/**
 * Builds the commander program (used for parsing and for the help text).
 *
 * @param version the version to print with --version
 * @returns the program
 */
export function buildProgram(version: string): Command {
  const d = DEFAULT_SERVER_OPTIONS;
  const program = new Command("tcposcrouter")
    .description(
      "OpenSoundControl router over TCP: clients log into password-protected groups and every message " +
        "one of them sends reaches the others. Port 55555 speaks OSC 1.0 (size-prefixed packets, " +
        "SuperCollider), port 55556 OSC 1.1 (SLIP, Pure Data); either port also accepts the other framing. " +
        "Every option can also be set by the environment variable shown beside it.",
    )
    .version(version, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show this help and exit")
    .addOption(
      new Option("--osc-port <port>", "port for OSC 1.0 (length-prefix) clients").env("TCPOSCROUTER_OSC_PORT")
        .argParser(port).default(d.lengthPrefixPort),
    )
    .addOption(
      new Option("--osc11-port <port>", "port for OSC 1.1 (SLIP) clients").env("TCPOSCROUTER_OSC11_PORT")
        .argParser(port).default(d.slipPort),
    )
    .addOption(new Option("--disable-osc10", "do not open the OSC 1.0 port").env("TCPOSCROUTER_DISABLE_OSC10"))
    .addOption(new Option("--disable-osc11", "do not open the OSC 1.1 port").env("TCPOSCROUTER_DISABLE_OSC11"))
    .addOption(
      new Option("--host <address>", "interface to listen on (:: is every IPv4 and IPv6 interface)")
        .env("TCPOSCROUTER_HOST").default(d.hostname),
    )
    .addOption(
      new Option("--http-port <port>", "serve a status page, /metrics, /healthz and WebSocket clients (/osc) here")
        .env("TCPOSCROUTER_HTTP_PORT").argParser(port),
    )
    .addOption(
      new Option("--http-host <address>", "interface for --http-port").env("TCPOSCROUTER_HTTP_HOST").default("::"),
    )
    .addOption(
      new Option(
        "--http-allow-origin <origins>",
        "comma-separated page origins (http://host:port) whose pages may open /osc, beside the router's own; * allows any",
      ).env("TCPOSCROUTER_HTTP_ALLOW_ORIGIN").argParser(list),
    )
    .addOption(
      new Option(
        "--http-allow-host <names>",
        "comma-separated host names the HTTP port answers to, beside localhost, this machine's name and IP addresses",
      ).env("TCPOSCROUTER_HTTP_ALLOW_HOST").argParser(list),
    )
    .addOption(
      new Option(
        "--http-token-file <file>",
        "protect /, /status.json, /events and /metrics with the token on the file's first line (or set TCPOSCROUTER_HTTP_TOKEN)",
      ).env("TCPOSCROUTER_HTTP_TOKEN_FILE"),
    )
    .addOption(
      new Option("--strict-framing", "accept only each port's own framing (no detection from the first byte)")
        .env("TCPOSCROUTER_STRICT_FRAMING"),
    )
    .addOption(
      new Option("--max-packet-bytes <bytes>", "largest packet accepted").env("TCPOSCROUTER_MAX_PACKET_BYTES")
        .argParser(integer(16, MAX_PACKET_BYTES_LIMIT)).default(d.maxPacketBytes),
    )
    .addOption(
      new Option("--max-queue-bytes <bytes>", "bytes queued to one slow client before it is cut off")
        .env("TCPOSCROUTER_MAX_QUEUE_BYTES").argParser(integer(1024, 2 ** 40)).default(d.maxQueueBytes),
    )
    .addOption(
      new Option("--max-connections <count>", "most connections at once; more are refused with server_full")
        .env("TCPOSCROUTER_MAX_CONNECTIONS").argParser(integer(1, 1_000_000)).default(d.maxConnections),
    )
    .addOption(
      new Option(
        "--max-memory-bytes <bytes>",
        "most bytes all clients together may make the router hold (partial packets, queues); the client holding the most is cut off first",
      ).env("TCPOSCROUTER_MAX_MEMORY_BYTES").argParser(integer(1024 * 1024, 2 ** 40)).default(d.maxMemoryBytes),
    )
    .addOption(
      new Option(
        "--write-timeout <seconds>",
        "cut off a client whose queued messages make no progress for this long (it stopped reading, or vanished)",
      ).env("TCPOSCROUTER_WRITE_TIMEOUT").argParser(integer(1, 86_400, " seconds")).default(d.writeTimeoutMs / 1000),
    )
    .addOption(
      new Option(
        "--max-connections-per-address <count>",
        "most connections from one address (an IPv6 /64 counts as one); more get too_many_connections",
      ).env("TCPOSCROUTER_MAX_CONNECTIONS_PER_ADDRESS").argParser(integer(1, 1_000_000))
        .default(d.maxConnectionsPerAddress),
    )
    .addOption(
      new Option(
        "--max-unregistered-per-address <count>",
        "most connections from one address that have not registered yet",
      ).env("TCPOSCROUTER_MAX_UNREGISTERED_PER_ADDRESS").argParser(integer(1, 1_000_000))
        .default(d.maxUnregisteredPerAddress),
    )
    .addOption(
      new Option(
        "--ping-timeout <seconds>",
        "close a client that sent /oscrouter/ping and then nothing for this long (0: never)",
      ).env("TCPOSCROUTER_PING_TIMEOUT").argParser(integer(0, 86_400, " seconds")).default(d.pingTimeoutMs / 1000),
    )
    .addOption(
      new Option("--register-timeout <seconds>", "time a new connection has to register")
        .env("TCPOSCROUTER_REGISTER_TIMEOUT").argParser(integer(1, 86_400, " seconds"))
        .default(d.registerTimeoutMs / 1000),
    )
    .addOption(
      new Option(
        "--groups <file>",
        "groups the operator declares, with password hashes (TOML; see the README); re-read on SIGHUP",
      ).env("TCPOSCROUTER_GROUPS"),
    )
    .addOption(
      new Option("--closed", "allow only the groups declared in --groups; others get unknown_group")
        .env("TCPOSCROUTER_CLOSED"),
    )
    .addOption(
      new Option(
        "--cluster <urls>",
        "behave as one router with every instance on these NATS servers (nats://HOST:PORT,...)",
      )
        .env("TCPOSCROUTER_CLUSTER").argParser(list),
    )
    .addOption(
      new Option("--cluster-name <name>", "the cluster's name on NATS; several clusters may share one NATS")
        .env("TCPOSCROUTER_CLUSTER_NAME").default("tcposcrouter"),
    )
    .addOption(
      new Option("--cluster-creds-file <file>", "NATS credentials file (user JWT and NKey seed)")
        .env("TCPOSCROUTER_CLUSTER_CREDS_FILE"),
    )
    .addOption(
      new Option("--cluster-ca-file <file>", "CA certificate to trust for tls:// NATS servers")
        .env("TCPOSCROUTER_CLUSTER_CA_FILE"),
    )
    .addOption(
      new Option("--cluster-replicas <n>", "copies of the shared state in a NATS cluster (3 for three NATS nodes)")
        .env("TCPOSCROUTER_CLUSTER_REPLICAS").argParser(integer(1, 5)).default(1),
    )
    .addOption(
      new Option(
        "--max-registers-per-second <n>",
        "registers one address may make per second, after a burst of 64; more get too_many_attempts",
      ).env("TCPOSCROUTER_MAX_REGISTERS_PER_SECOND").argParser(integer(1, 1_000_000)).default(10),
    )
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  tcposcrouter                              both ports, logs to stderr\n" +
        "  tcposcrouter --osc-port 6000 --disable-osc11\n" +
        "  tcposcrouter --log-dir /var/log/tcposcrouter --log-format json\n" +
        "  tcposcrouter --groups /etc/tcposcrouter/groups.toml --closed\n" +
        "\nExit codes: 0 stopped by SIGINT/SIGTERM, 1 runtime failure (e.g. port in use), 2 usage error.",
    )
    .showHelpAfterError("(run tcposcrouter --help for every option)")
    .allowExcessArguments(false);
  addLogOptions(program);
  addLogOptions(
    program.command("bridge")
      .description(
        "Bring a UDP-only OSC app (TouchOSC, Max, Open Stage Control, ...) into a group: join a router over TCP " +
          "as one user and relay packets byte for byte between the group and the app's UDP ports. Passwords come " +
          "from TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD or from --password-file, never from " +
          "the command line (other users of the machine can read process arguments).",
      )
      .addOption(
        new Option("--server <host:port>", "the router (required)").env("TCPOSCROUTER_BRIDGE_SERVER")
          .argParser(endpoint).makeOptionMandatory(),
      )
      .addOption(
        new Option("--framing <framing>", "how to talk to the router: length (OSC 1.0) or slip (OSC 1.1)")
          .env("TCPOSCROUTER_BRIDGE_FRAMING").choices(["length", "slip"]).default("length"),
      )
      .addOption(
        new Option("--user <name>", "user name in the group (required)").env("TCPOSCROUTER_BRIDGE_USER")
          .makeOptionMandatory(),
      )
      .addOption(
        new Option("--group <name>", "group to join (required)").env("TCPOSCROUTER_BRIDGE_GROUP")
          .makeOptionMandatory(),
      )
      .addOption(
        new Option("--listen-udp <host:port>", "where the app sends its OSC").env("TCPOSCROUTER_BRIDGE_LISTEN_UDP")
          .argParser(endpoint).default(endpoint("127.0.0.1:57130"), "127.0.0.1:57130"),
      )
      .addOption(
        new Option("--send-udp <host:port>", "where the app receives OSC").env("TCPOSCROUTER_BRIDGE_SEND_UDP")
          .argParser(endpoint).default(endpoint("127.0.0.1:57120"), "127.0.0.1:57120"),
      )
      .addOption(
        new Option(
          "--allow-udp-from <hosts>",
          "comma-separated addresses or host names whose datagrams are relayed, or 'any' " +
            "(default: the --send-udp host; any loopback address when it is loopback)",
        ).env("TCPOSCROUTER_BRIDGE_ALLOW_UDP_FROM"),
      )
      .addOption(
        new Option("--password-file <file>", "user password on the first line, group password on the second")
          .env("TCPOSCROUTER_PASSWORD_FILE"),
      )
      .addOption(
        new Option("--queue-bytes <bytes>", "app packets kept while the router is unreachable; more are dropped")
          .env("TCPOSCROUTER_BRIDGE_QUEUE_BYTES").argParser(integer(0, 2 ** 30)).default(1024 * 1024),
      )
      .addHelpText(
        "after",
        "\nExample (TouchOSC on this machine sending to 57130 and listening on 57120):\n" +
          "  export TCPOSCROUTER_USER_PASSWORD=... TCPOSCROUTER_GROUP_PASSWORD=...\n" +
          "  tcposcrouter bridge --server venue.example.org:55555 --user touchosc --group band\n" +
          "A phone on the Wi-Fi (only its datagrams are relayed):\n" +
          "  tcposcrouter bridge --server venue.example.org:55555 --user phone --group band \\\n" +
          "    --listen-udp 0.0.0.0:57130 --send-udp 192.168.1.23:9000",
      )
      .allowExcessArguments(false),
  );
  program.command("hash-password")
    .description(
      "Read a password without echo (from the terminal, or the first line of standard input when piped) and " +
        "print the line to paste into the groups file: a salted scrypt hash, never the password.",
    )
    .addOption(new Option("--user <name>", "print 'NAME = \"...\"' for a [groups.NAME.users] entry"))
    .addHelpText(
      "after",
      "\nExamples:\n" +
        '  tcposcrouter hash-password                   asks twice, prints password = "$scrypt$..."\n' +
        '  tcposcrouter hash-password --user ana        prints ana = "$scrypt$..."\n' +
        "  printf '%s\\n' \"$PW\" | tcposcrouter hash-password",
    )
    .allowExcessArguments(false);
  return program;
}

/** The option values commander returns. */
interface Parsed {
  oscPort: number;
  osc11Port: number;
  disableOsc10?: true;
  disableOsc11?: true;
  host: string;
  strictFraming?: true;
  httpPort?: number;
  httpHost: string;
  httpAllowOrigin?: string[];
  httpAllowHost?: string[];
  httpTokenFile?: string;
  maxPacketBytes: number;
  maxQueueBytes: number;
  maxConnections: number;
  maxMemoryBytes: number;
  writeTimeout: number;
  maxConnectionsPerAddress: number;
  maxUnregisteredPerAddress: number;
  pingTimeout: number;
  registerTimeout: number;
  groups?: string;
  closed?: true;
  maxRegistersPerSecond: number;
  cluster?: string[];
  clusterName: string;
  clusterCredsFile?: string;
  clusterCaFile?: string;
  clusterReplicas: number;
  logDir?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  logMaxBytes: number;
  logMaxFiles: number;
}

/** The option values of the bridge subcommand. */
interface ParsedBridge {
  server: Endpoint;
  framing: "length" | "slip";
  user: string;
  group: string;
  listenUdp: Endpoint;
  sendUdp: Endpoint;
  allowUdpFrom?: string;
  passwordFile?: string;
  queueBytes: number;
  logDir?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  logMaxBytes: number;
  logMaxFiles: number;
}

/**
 * Checks what single flags cannot: combinations.
 *
 * @param o parsed options
 * @returns the configuration
 * @throws {UsageError} for contradictory flags
 */
function toConfig(o: Parsed, env: Record<string, string | undefined>): Config {
  if (o.disableOsc10 && o.disableOsc11) {
    throw new UsageError("both ports are disabled (--disable-osc10 and --disable-osc11); keep at least one");
  }
  const open = [
    o.disableOsc10 ? [] : [["--osc-port", o.oscPort]],
    o.disableOsc11 ? [] : [["--osc11-port", o.osc11Port]],
    o.httpPort === undefined ? [] : [["--http-port", o.httpPort]],
  ].flat() as [string, number][];
  for (const [i, [flag, value]] of open.entries()) {
    const clash = open.slice(i + 1).find(([, other]) => other === value);
    if (clash) throw new UsageError(`${flag} and ${clash[0]} are both ${value}; give them different ports`);
  }
  if (o.closed && o.groups === undefined) {
    throw new UsageError("--closed allows only declared groups, and none are declared: give --groups FILE too");
  }
  const minQueue = 2 * (o.maxPacketBytes + 8);
  if (o.maxQueueBytes < minQueue) {
    throw new UsageError(
      `--max-queue-bytes ${o.maxQueueBytes} must hold at least two packets of --max-packet-bytes ${o.maxPacketBytes} (${minQueue} or more)`,
    );
  }
  return {
    server: {
      hostname: o.host,
      lengthPrefixPort: o.disableOsc10 ? undefined : o.oscPort,
      slipPort: o.disableOsc11 ? undefined : o.osc11Port,
      maxPacketBytes: o.maxPacketBytes,
      maxQueueBytes: o.maxQueueBytes,
      maxConnections: o.maxConnections,
      registerTimeoutMs: o.registerTimeout * 1000,
      strictFraming: o.strictFraming === true,
      maxMemoryBytes: o.maxMemoryBytes,
      writeTimeoutMs: o.writeTimeout * 1000,
      maxConnectionsPerAddress: o.maxConnectionsPerAddress,
      maxUnregisteredPerAddress: o.maxUnregisteredPerAddress,
      pingTimeoutMs: o.pingTimeout * 1000,
    },
    http: o.httpPort === undefined ? undefined : httpConfig(o, o.httpPort, env),
    log: logOptions(o),
    access: { groupsFile: o.groups, closed: o.closed === true, registersPerSecond: o.maxRegistersPerSecond },
    cluster: o.cluster === undefined ? undefined : clusterConfig(o, o.cluster, env),
  };
}

/**
 * Checks NATS URLs: nats:// or tls://, and no credentials (they belong in a file or the
 * environment). Checked here rather than in commander's argument parser, whose message repeats
 * the argument, password included; these messages never show the URL.
 */
function checkNatsUrls(urls: string[]): string[] {
  if (urls.length === 0) throw new UsageError("--cluster needs at least one NATS server, e.g. nats://127.0.0.1:4222");
  for (const [i, url] of urls.entries()) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--cluster: server ${i + 1} is not a URL; give nats://HOST:PORT`);
    }
    if (parsed.username !== "" || parsed.password !== "") {
      throw new UsageError(
        "--cluster: NATS credentials do not belong on the command line (other users can read it); use " +
          "TCPOSCROUTER_CLUSTER_USER and TCPOSCROUTER_CLUSTER_PASSWORD, TCPOSCROUTER_CLUSTER_TOKEN or --cluster-creds-file",
      );
    }
    if (parsed.protocol !== "nats:" && parsed.protocol !== "tls:") {
      throw new UsageError(
        `--cluster: '${parsed.protocol}' is not a NATS scheme; give nats://HOST:PORT or tls://HOST:PORT`,
      );
    }
  }
  return urls;
}

function clusterConfig(o: Parsed, servers: string[], env: Record<string, string | undefined>): ClusterConfig {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(o.clusterName)) {
    throw new UsageError(`--cluster-name '${o.clusterName}' must be 1 to 64 letters, digits, '-' or '_'`);
  }
  return {
    servers: checkNatsUrls(servers),
    name: o.clusterName,
    replicas: o.clusterReplicas,
    credsFile: o.clusterCredsFile,
    caFile: o.clusterCaFile,
    user: env["TCPOSCROUTER_CLUSTER_USER"],
    password: env["TCPOSCROUTER_CLUSTER_PASSWORD"],
    token: env["TCPOSCROUTER_CLUSTER_TOKEN"],
  };
}

function httpConfig(o: Parsed, httpPort: number, env: Record<string, string | undefined>): HttpConfig {
  const token = env["TCPOSCROUTER_HTTP_TOKEN"];
  if (token !== undefined && o.httpTokenFile !== undefined) {
    throw new UsageError("give the status page token once: TCPOSCROUTER_HTTP_TOKEN or --http-token-file, not both");
  }
  if (token !== undefined && token.trim() === "") {
    throw new UsageError("TCPOSCROUTER_HTTP_TOKEN is empty; set a token or unset the variable");
  }
  return {
    hostname: o.httpHost,
    port: httpPort,
    allowOrigins: o.httpAllowOrigin ?? [],
    allowHosts: o.httpAllowHost ?? [],
    token: token?.trim(),
    tokenFile: o.httpTokenFile,
  };
}

function logOptions(o: Pick<Parsed, "logLevel" | "logFormat" | "logDir" | "logMaxBytes" | "logMaxFiles">): LogOptions {
  return {
    level: o.logLevel,
    format: o.logFormat,
    dir: o.logDir,
    maxFileBytes: o.logMaxBytes,
    maxFiles: o.logMaxFiles,
  };
}

function toBridgeConfig(o: ParsedBridge): BridgeConfig {
  return {
    bridge: {
      server: o.server,
      framing: o.framing === "slip" ? "slip" : "length-prefix",
      user: o.user,
      group: o.group,
      listenUdp: o.listenUdp,
      sendUdp: o.sendUdp,
      ...(o.allowUdpFrom === undefined ? {} : { allowUdpFrom: o.allowUdpFrom.split(",").map((h) => h.trim()) }),
      maxQueueBytes: o.queueBytes,
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
    },
    passwordFile: o.passwordFile,
    log: logOptions(o),
  };
}

/** What parsing decided: run with a config, or exit (help, version, usage error). */
export type ParseResult =
  | { kind: "run"; config: Config }
  | { kind: "bridge"; config: BridgeConfig }
  | { kind: "hash-password"; config: HashPasswordConfig }
  | { kind: "exit"; code: number };

/**
 * Parses the command line and the environment.
 *
 * @param args the arguments (without the program name)
 * @param env the environment (for `TCPOSCROUTER_*`)
 * @param version the version for --version
 * @param output where help and errors go
 * @returns the configuration, or the exit code when there is nothing to run
 */
export function parseCommandLine(
  args: string[],
  env: Record<string, string | undefined>,
  version: string,
  output: { out: (s: string) => void; err: (s: string) => void },
): ParseResult {
  const program = buildProgram(version);
  // Settings made after a subcommand exists are not inherited: apply them to each.
  for (const command of [program, ...program.commands]) {
    command.exitOverride().configureOutput({ writeOut: output.out, writeErr: output.err });
  }
  // commander reads process.env; it treats a boolean variable as set whatever its value,
  // so "0" or "false" would enable the flag: drop those first.
  for (const name of BOOLEAN_ENV) {
    if (name in env && /^(0|false|no|off|)$/i.test(env[name]!.trim())) delete env[name];
  }
  let result: ParseResult | undefined;
  program.action(() => {
    result = { kind: "run", config: toConfig(program.opts<Parsed>(), env) };
  });
  program.commands[0]!.action((options: ParsedBridge) => {
    result = { kind: "bridge", config: toBridgeConfig(options) };
  });
  // `deno task start -- --version` (the npm habit) passes a leading "--": it separates the
  // task runner's arguments from ours, so it is not an end-of-options marker here.
  if (args[0] === "--") args = args.slice(1);
  program.commands.find((c) => c.name() === "hash-password")!.action((options: { user?: string }) => {
    result = { kind: "hash-password", config: { user: options.user } };
  });
  try {
    program.parse(args, { from: "user" });
    return result!;
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(`error: ${error.message}\n`);
      return { kind: "exit", code: 2 };
    }
    const code = (error as { code?: string; exitCode?: number }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return { kind: "exit", code: 0 };
    if (typeof code === "string" && code.startsWith("commander.")) return { kind: "exit", code: 2 };
    throw error;
  }
}
