/**
 * The command line: flags compatible with the original Python tcposcrouter, plus the
 * operator's limits, each also settable through a `TCPOSCROUTER_*` environment variable.
 *
 * {@linkcode parseCommandLine} is a pure function of the arguments and an environment record: it
 * never reads `process.env` or `Deno.env`, and it returns typed settings (or the help text to
 * print) or throws a {@linkcode UsageError}. Each command's options are one list of
 * {@linkcode OptionSpec}s (flag, variable, default, parser): commander is built from the list per
 * call (help, validation, the variable shown beside each flag), and the typed values are read back
 * through the same list. A variable's value goes through the option's own parser and is handed to
 * commander with the source `"env"`, so a flag given on the command line still wins.
 *
 * @module
 */

import { Command, CommanderError, Help, InvalidArgumentError, Option } from "commander";
import type { BridgeOptions, Endpoint } from "../bridge/bridge.ts";
import type { Framing } from "../framing/detect.ts";
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
  /** The lowest level logged (`--log-level`). */
  level: LogLevel;
  /** The log line format (`--log-format`). */
  format: LogFormat;
  /** Directory for `tcposcrouter.log`; undefined logs to stderr only. */
  dir: string | undefined;
  /** The log file is rotated at this size (`--log-max-bytes`). */
  maxFileBytes: number;
  /** Rotated log files kept (`--log-max-files`). */
  maxFiles: number;
}

/** Everything the command line decides for the router. */
export interface Config {
  /** The TCP ports and the limits. */
  server: ServerOptions;
  /** The status page, metrics and WebSocket port; undefined when off. */
  http: HttpConfig | undefined;
  /** Logging. */
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
  /** A NATS credentials file (`--cluster-creds-file`). */
  credsFile: string | undefined;
  /** A CA certificate for `tls://` servers (`--cluster-ca-file`). */
  caFile: string | undefined;
  /** From TCPOSCROUTER_CLUSTER_USER. */
  user: string | undefined;
  /** From TCPOSCROUTER_CLUSTER_PASSWORD. */
  password: string | undefined;
  /** From TCPOSCROUTER_CLUSTER_TOKEN. */
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
  /** The interface it listens on (`--http-host`). */
  hostname: string;
  /** The port (`--http-port`). */
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
  /** The bridge's settings, less the passwords. */
  bridge: Omit<BridgeOptions, "userPassword" | "groupPassword">;
  /**
   * Where the passwords come from: `--password-file` (the user password on its first line, the
   * group password on its second), or else TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD.
   */
  passwords: { file: string } | { userPassword: string; groupPassword: string };
  /** Logging. */
  log: LogOptions;
}

/** The environment the command line reads its `TCPOSCROUTER_*` variables from (e.g. `Deno.env.toObject()`). */
export type Environment = Readonly<Record<string, string | undefined>>;

/** What kind of usage error: the flags or variables, not the machine, are wrong. */
export type UsageErrorCode =
  /** A flag's argument or a variable's value is not allowed. */
  | "invalid_value"
  /** Flags that cannot go together (both ports off, the same port twice, ...). */
  | "conflicting_options"
  /** A flag that does not exist. */
  | "unknown_option"
  /** A subcommand that does not exist. */
  | "unknown_command"
  /** A required flag (or its variable) is missing. */
  | "missing_option"
  /** A flag without its argument. */
  | "missing_value"
  /** Arguments left over after the options. */
  | "excess_arguments"
  /** A router option before a subcommand's name (a subcommand's options come after its name). */
  | "misplaced_option"
  /** A secret that only a variable or a file may give is missing. */
  | "missing_secret"
  /** Any other misuse commander reports. */
  | "bad_usage";

/**
 * A usage error: bad flags or variables; the process exits with code 2. The message says what is
 * wrong and what to do, without the leading `error: `.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommandLine, UsageError } from "./options.ts";
 * assert.throws(() => parseCommandLine(["--disable-osc10", "--disable-osc11"], {}, "1.0.0"), (error) => {
 *   assert.ok(error instanceof UsageError);
 *   assert.equal(error.code, "conflicting_options");
 *   return true;
 * });
 * ```
 */
export class UsageError extends Error {
  /** What kind of usage error. */
  readonly code: UsageErrorCode;

  /**
   * Makes a usage error.
   *
   * @param code what kind of usage error
   * @param message what is wrong and how to fix it
   */
  constructor(code: UsageErrorCode, message: string) {
    super(message);
    this.name = "UsageError";
    this.code = code;
  }
}

/**
 * A flag's argument or a variable's value that its option does not allow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidOptionValueError, parseCommandLine } from "./options.ts";
 * assert.throws(() => parseCommandLine([], { TCPOSCROUTER_OSC11_PORT: "70000" }, "1.0.0"), (error) => {
 *   assert.ok(error instanceof InvalidOptionValueError);
 *   assert.equal(error.flag, "--osc11-port");
 *   assert.equal(error.variable, "TCPOSCROUTER_OSC11_PORT");
 *   assert.match(error.message, /TCPOSCROUTER_OSC11_PORT \(--osc11-port\) must be an integer from 1 to 65535/);
 *   return true;
 * });
 * ```
 */
export class InvalidOptionValueError extends UsageError {
  /** The option's long flag, e.g. `--osc-port`. */
  readonly flag: string;
  /** The variable the value came from; undefined when it came from the flag. */
  readonly variable: string | undefined;
  /** The text given. */
  readonly value: string;

  /**
   * Makes the error of a bad value; the message names the flag, or the variable and its flag.
   *
   * @param flag the option's long flag
   * @param variable the variable the value came from, or undefined for the flag
   * @param value the text given
   * @param reason what the value must be, e.g. "must be an integer from 1 to 65535, got '0'"
   */
  constructor(flag: string, variable: string | undefined, value: string, reason: string) {
    super(
      "invalid_value",
      variable === undefined
        ? `${flag} ${reason}`
        : `${variable} (${flag}) ${reason}; correct the variable or unset it`,
    );
    this.name = "InvalidOptionValueError";
    this.flag = flag;
    this.variable = variable;
    this.value = value;
  }
}

/** Largest packet size the length prefix allows (its first byte must stay 0x00). */
const MAX_PACKET_BYTES_LIMIT = 16 * 1024 * 1024 - 1;

/**
 * One option of a command: what commander needs for it and for its help line, and how the text of
 * its flag or variable becomes a typed value.
 */
interface OptionSpec<T> {
  /** commander's flags: `--name <value>` for an option with a value, `--name` for a switch. */
  readonly flags: string;
  /** The help text. */
  readonly description: string;
  /** The `TCPOSCROUTER_*` variable that sets it too, if any. */
  readonly variable: string | undefined;
  /**
   * Reads the flag's argument or the variable's value (a switch: only the variable's value).
   * Throws commander's `InvalidArgumentError` with a message that starts "must ...".
   */
  readonly parse: (text: string) => T;
  /** The value when neither the flag nor the variable is given. */
  readonly default: T;
  /** How help shows the default, when `JSON.stringify(default)` would not say it well. */
  readonly defaultText: string | undefined;
  /** The allowed texts, shown by help (`parse` checks them). */
  readonly choices: readonly string[] | undefined;
  /** The command refuses to run without the flag or its variable. */
  readonly mandatory: boolean;
}

/** A command's options by the name of the value they give. */
type OptionSpecs = Readonly<Record<string, OptionSpec<unknown>>>;

/** The typed values of a list of options: a mandatory option's value is never undefined. */
type OptionValues<S extends OptionSpecs> = {
  [K in keyof S]: S[K] extends OptionSpec<infer T> ? S[K]["mandatory"] extends true ? NonNullable<T> : T : never;
};

/** An option with a value; `defaultValue` undefined: not set unless given. */
function valued<T>(
  flags: string,
  variable: string | undefined,
  description: string,
  parse: (text: string) => T,
  defaultValue: T,
  more: { defaultText?: string; choices?: readonly string[] } = {},
): OptionSpec<T> {
  return {
    flags,
    description,
    variable,
    parse,
    default: defaultValue,
    defaultText: more.defaultText,
    choices: more.choices,
    mandatory: false,
  };
}

/** An option that must be given, by its flag or its variable. */
function required<T>(
  flags: string,
  variable: string,
  description: string,
  parse: (text: string) => T,
): OptionSpec<T | undefined> & { readonly mandatory: true } {
  return { ...valued<T | undefined>(flags, variable, description, parse, undefined), mandatory: true };
}

/**
 * A switch: on when the flag is given, or its variable is set to anything but "", `0`, `false`,
 * `no` or `off` (README: "Boolean variables count as set unless ...").
 */
function toggle(flags: string, variable: string, description: string): OptionSpec<boolean> {
  return valued(flags, variable, description, (text) => !/^(0|false|no|off|)$/i.test(text.trim()), false);
}

/** Reads an integer from `min` to `max`. */
function integer(min: number, max: number, unit = ""): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}${unit}, got '${text}'`);
    }
    return value;
  };
}

/** Reads whole seconds from `min` to `max`; the value is in milliseconds, the unit the code uses. */
function secondsAsMs(min: number, max: number): (text: string) => number {
  const seconds = integer(min, max, " seconds");
  return (text) => seconds(text) * 1000;
}

const port = integer(1, 65535);

/** The text as given. */
function text(value: string): string {
  return value;
}

/** A comma-separated list; empty items are dropped. */
function list(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/** A cluster name: one NATS subject token. */
function clusterName(text: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) {
    throw new InvalidArgumentError(`must be 1 to 64 letters, digits, '-' or '_', got '${text}'`);
  }
  return text;
}

/** Parses "host:port", "[ipv6]:port" or ":port" (all interfaces). */
function endpoint(text: string): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const portNumber = Number(m?.[3]);
  if (!m || portNumber < 1 || portNumber > 65535) {
    throw new InvalidArgumentError(
      `must be HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:57120), got '${text}'`,
    );
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port: portNumber };
}

/**
 * An option whose text is one of the names of `values`; help lists the names and shows the
 * default's name.
 */
function choice<T>(
  flags: string,
  variable: string,
  description: string,
  values: Readonly<Record<string, T>>,
  defaultValue: T,
): OptionSpec<T> {
  const names = Object.keys(values);
  const parse = (text: string): T => {
    if (!Object.hasOwn(values, text)) {
      throw new InvalidArgumentError(`must be one of ${names.join(", ")}, got '${text}'`);
    }
    return values[text]!;
  };
  const defaultName = names.find((name) => values[name] === defaultValue);
  return valued(flags, variable, description, parse, defaultValue, {
    choices: names,
    defaultText: JSON.stringify(defaultName),
  });
}

/** Each name as its own value, for {@linkcode choice}. */
function named<C extends string>(names: readonly C[]): Readonly<Record<string, C>> {
  return Object.fromEntries(names.map((name) => [name, name]));
}

/** The framings by their command-line names. */
const FRAMINGS_BY_NAME: Readonly<Record<string, Framing>> = { length: "length-prefix", slip: "slip" };

const d = DEFAULT_SERVER_OPTIONS;

/** The logging options, shared by the router and the bridge. */
const LOG_OPTIONS = {
  logDir: valued(
    "--log-dir <dir>",
    "TCPOSCROUTER_LOG_DIR",
    "also log to DIR/tcposcrouter.log, rotated by size",
    text,
    undefined,
  ),
  logLevel: choice("--log-level <level>", "TCPOSCROUTER_LOG_LEVEL", "lowest level logged", named(LOG_LEVELS), "info"),
  logFormat: choice("--log-format <format>", "TCPOSCROUTER_LOG_FORMAT", "log line format", named(LOG_FORMATS), "text"),
  logMaxFileBytes: valued(
    "--log-max-bytes <bytes>",
    "TCPOSCROUTER_LOG_MAX_BYTES",
    "rotate the log file at this size",
    integer(1024, 2 ** 40),
    10 * 1024 * 1024,
  ),
  logMaxFiles: valued(
    "--log-max-files <count>",
    "TCPOSCROUTER_LOG_MAX_FILES",
    "rotated log files kept",
    integer(1, 1000),
    5,
  ),
};

/** The router's options, in help order. */
const ROUTER_OPTIONS = {
  oscPort: valued(
    "--osc-port <port>",
    "TCPOSCROUTER_OSC_PORT",
    "port for OSC 1.0 (length-prefix) clients",
    port,
    d.lengthPrefixPort!,
  ),
  osc11Port: valued(
    "--osc11-port <port>",
    "TCPOSCROUTER_OSC11_PORT",
    "port for OSC 1.1 (SLIP) clients",
    port,
    d.slipPort!,
  ),
  disableOsc10: toggle("--disable-osc10", "TCPOSCROUTER_DISABLE_OSC10", "do not open the OSC 1.0 port"),
  disableOsc11: toggle("--disable-osc11", "TCPOSCROUTER_DISABLE_OSC11", "do not open the OSC 1.1 port"),
  host: valued(
    "--host <address>",
    "TCPOSCROUTER_HOST",
    "interface to listen on (:: is every IPv4 and IPv6 interface)",
    text,
    d.hostname,
  ),
  httpPort: valued<number | undefined>(
    "--http-port <port>",
    "TCPOSCROUTER_HTTP_PORT",
    "serve a status page, /metrics, /healthz and WebSocket clients (/osc) here",
    port,
    undefined,
  ),
  httpHost: valued("--http-host <address>", "TCPOSCROUTER_HTTP_HOST", "interface for --http-port", text, "::"),
  httpAllowOrigins: valued<string[] | undefined>(
    "--http-allow-origin <origins>",
    "TCPOSCROUTER_HTTP_ALLOW_ORIGIN",
    "comma-separated page origins (http://host:port) whose pages may open /osc, beside the router's own; * allows any",
    list,
    undefined,
  ),
  httpAllowHosts: valued<string[] | undefined>(
    "--http-allow-host <names>",
    "TCPOSCROUTER_HTTP_ALLOW_HOST",
    "comma-separated host names the HTTP port answers to, beside localhost, this machine's name and IP addresses",
    list,
    undefined,
  ),
  httpTokenFile: valued<string | undefined>(
    "--http-token-file <file>",
    "TCPOSCROUTER_HTTP_TOKEN_FILE",
    "protect /, /status.json, /events and /metrics with the token on the file's first line (or set TCPOSCROUTER_HTTP_TOKEN)",
    text,
    undefined,
  ),
  strictFraming: toggle(
    "--strict-framing",
    "TCPOSCROUTER_STRICT_FRAMING",
    "accept only each port's own framing (no detection from the first byte)",
  ),
  maxPacketBytes: valued(
    "--max-packet-bytes <bytes>",
    "TCPOSCROUTER_MAX_PACKET_BYTES",
    "largest packet accepted",
    integer(16, MAX_PACKET_BYTES_LIMIT),
    d.maxPacketBytes,
  ),
  maxQueueBytes: valued(
    "--max-queue-bytes <bytes>",
    "TCPOSCROUTER_MAX_QUEUE_BYTES",
    "bytes queued to one slow client before it is cut off",
    integer(1024, 2 ** 40),
    d.maxQueueBytes,
  ),
  maxConnections: valued(
    "--max-connections <count>",
    "TCPOSCROUTER_MAX_CONNECTIONS",
    "most connections at once; more are refused with server_full",
    integer(1, 1_000_000),
    d.maxConnections,
  ),
  maxMemoryBytes: valued(
    "--max-memory-bytes <bytes>",
    "TCPOSCROUTER_MAX_MEMORY_BYTES",
    "most bytes all clients together may make the router hold (partial packets, queues); the client holding the most is cut off first",
    integer(1024 * 1024, 2 ** 40),
    d.maxMemoryBytes,
  ),
  writeTimeoutMs: valued(
    "--write-timeout <seconds>",
    "TCPOSCROUTER_WRITE_TIMEOUT",
    "cut off a client whose queued messages make no progress for this long (it stopped reading, or vanished)",
    secondsAsMs(1, 86_400),
    d.writeTimeoutMs,
    { defaultText: String(d.writeTimeoutMs / 1000) },
  ),
  maxConnectionsPerAddress: valued(
    "--max-connections-per-address <count>",
    "TCPOSCROUTER_MAX_CONNECTIONS_PER_ADDRESS",
    "most connections from one address (an IPv6 /64 counts as one); more get too_many_connections",
    integer(1, 1_000_000),
    d.maxConnectionsPerAddress,
  ),
  maxUnregisteredPerAddress: valued(
    "--max-unregistered-per-address <count>",
    "TCPOSCROUTER_MAX_UNREGISTERED_PER_ADDRESS",
    "most connections from one address that have not registered yet",
    integer(1, 1_000_000),
    d.maxUnregisteredPerAddress,
  ),
  pingTimeoutMs: valued(
    "--ping-timeout <seconds>",
    "TCPOSCROUTER_PING_TIMEOUT",
    "close a client that sent /oscrouter/ping and then nothing for this long (0: never)",
    secondsAsMs(0, 86_400),
    d.pingTimeoutMs,
    { defaultText: String(d.pingTimeoutMs / 1000) },
  ),
  registerTimeoutMs: valued(
    "--register-timeout <seconds>",
    "TCPOSCROUTER_REGISTER_TIMEOUT",
    "time a new connection has to register",
    secondsAsMs(1, 86_400),
    d.registerTimeoutMs,
    { defaultText: String(d.registerTimeoutMs / 1000) },
  ),
  groupsFile: valued<string | undefined>(
    "--groups <file>",
    "TCPOSCROUTER_GROUPS",
    "groups the operator declares, with password hashes (TOML; see the README); re-read on SIGHUP",
    text,
    undefined,
  ),
  closed: toggle(
    "--closed",
    "TCPOSCROUTER_CLOSED",
    "allow only the groups declared in --groups; others get unknown_group",
  ),
  registersPerSecond: valued(
    "--max-registers-per-second <n>",
    "TCPOSCROUTER_MAX_REGISTERS_PER_SECOND",
    "registers one address may make per second, after a burst of 64; more get too_many_attempts",
    integer(1, 1_000_000),
    10,
  ),
  cluster: valued<string[] | undefined>(
    "--cluster <urls>",
    "TCPOSCROUTER_CLUSTER",
    "behave as one router with every instance on these NATS servers (nats://HOST:PORT,...)",
    list,
    undefined,
  ),
  clusterName: valued(
    "--cluster-name <name>",
    "TCPOSCROUTER_CLUSTER_NAME",
    "the cluster's name on NATS; several clusters may share one NATS",
    clusterName,
    "tcposcrouter",
  ),
  clusterReplicas: valued(
    "--cluster-replicas <n>",
    "TCPOSCROUTER_CLUSTER_REPLICAS",
    "copies of the shared state in a NATS cluster (3 for three NATS nodes)",
    integer(1, 5),
    1,
  ),
  clusterCredsFile: valued<string | undefined>(
    "--cluster-creds-file <file>",
    "TCPOSCROUTER_CLUSTER_CREDS_FILE",
    "NATS credentials file (user JWT and NKey seed)",
    text,
    undefined,
  ),
  clusterCaFile: valued<string | undefined>(
    "--cluster-ca-file <file>",
    "TCPOSCROUTER_CLUSTER_CA_FILE",
    "CA certificate to trust for tls:// NATS servers",
    text,
    undefined,
  ),
  ...LOG_OPTIONS,
};

/** The bridge subcommand's options, in help order. */
const BRIDGE_OPTIONS = {
  server: required("--server <host:port>", "TCPOSCROUTER_BRIDGE_SERVER", "the router (required)", endpoint),
  framing: choice(
    "--framing <framing>",
    "TCPOSCROUTER_BRIDGE_FRAMING",
    "how to talk to the router: length (OSC 1.0) or slip (OSC 1.1)",
    FRAMINGS_BY_NAME,
    "length-prefix",
  ),
  user: required("--user <name>", "TCPOSCROUTER_BRIDGE_USER", "user name in the group (required)", text),
  group: required("--group <name>", "TCPOSCROUTER_BRIDGE_GROUP", "group to join (required)", text),
  listenUdp: valued(
    "--listen-udp <host:port>",
    "TCPOSCROUTER_BRIDGE_LISTEN_UDP",
    "where the app sends its OSC",
    endpoint,
    endpoint("127.0.0.1:57130"),
    { defaultText: "127.0.0.1:57130" },
  ),
  sendUdp: valued(
    "--send-udp <host:port>",
    "TCPOSCROUTER_BRIDGE_SEND_UDP",
    "where the app receives OSC",
    endpoint,
    endpoint("127.0.0.1:57120"),
    { defaultText: "127.0.0.1:57120" },
  ),
  allowUdpFrom: valued<string[] | undefined>(
    "--allow-udp-from <hosts>",
    "TCPOSCROUTER_BRIDGE_ALLOW_UDP_FROM",
    "comma-separated addresses or host names whose datagrams are relayed, or 'any' " +
      "(default: the --send-udp host; any loopback address when it is loopback)",
    (hosts) => hosts.split(",").map((h) => h.trim()),
    undefined,
  ),
  passwordFile: valued<string | undefined>(
    "--password-file <file>",
    "TCPOSCROUTER_PASSWORD_FILE",
    "user password on the first line, group password on the second",
    text,
    undefined,
  ),
  maxQueueBytes: valued(
    "--queue-bytes <bytes>",
    "TCPOSCROUTER_BRIDGE_QUEUE_BYTES",
    "app packets kept while the router is unreachable; more are dropped",
    integer(0, 2 ** 30),
    1024 * 1024,
  ),
  ...LOG_OPTIONS,
};

/** The hash-password subcommand's options. */
const HASH_PASSWORD_OPTIONS = {
  user: valued<string | undefined>(
    "--user <name>",
    undefined,
    "print 'NAME = \"...\"' for a [groups.NAME.users] entry",
    text,
    undefined,
  ),
};

/**
 * A list of options added to a command: commander parses them (with help and validation), and
 * the same list reads the variables and the typed values back.
 */
class CommandOptions<S extends OptionSpecs> {
  readonly #command: Command;
  /** Each option as commander has it, beside its spec, by the name of its value. */
  readonly #added = new Map<string, { spec: OptionSpec<unknown>; option: Option }>();

  /**
   * @param command the command the options are added to
   * @param specs the options, in help order
   * @param variables collects each option's variable, for help
   */
  constructor(command: Command, specs: S, variables: Map<Option, string>) {
    this.#command = command;
    for (const [key, spec] of Object.entries(specs)) {
      const option = new Option(spec.flags, spec.description);
      if (spec.choices !== undefined) option.choices(spec.choices);
      if (!option.isBoolean()) {
        option.argParser((value: string) => parseText(option, spec, value, undefined));
        if (spec.default !== undefined) option.default(spec.default, spec.defaultText);
      }
      if (spec.variable !== undefined) variables.set(option, spec.variable);
      command.addOption(option);
      this.#added.set(key, { spec, option });
    }
  }

  /**
   * Hands the variables in `env` of the options whose flag was not given to commander, with the
   * source `"env"`. Called once the command line is parsed, as commander itself does with
   * `process.env`: a flag wins, and a variable it overrides is not even read.
   */
  applyVariables(env: Environment): void {
    for (const { spec, option } of this.#added.values()) {
      const value = spec.variable === undefined ? undefined : env[spec.variable];
      if (value === undefined || this.#command.getOptionValueSource(option.attributeName()) === "cli") continue;
      const parsed = parseText(option, spec, value, spec.variable);
      this.#command.setOptionValueWithSource(option.attributeName(), parsed, "env");
    }
  }

  /** The first of these options given on the command line, if any. */
  givenFlag(): Option | undefined {
    for (const { option } of this.#added.values()) {
      if (this.#command.getOptionValueSource(option.attributeName()) === "cli") return option;
    }
    return undefined;
  }

  /**
   * The typed values, once commander has parsed the command line and the variables are applied.
   *
   * @throws {UsageError} when a mandatory option has neither its flag nor its variable
   */
  read(): OptionValues<S> {
    const values: Record<string, unknown> = {};
    for (const [key, { spec, option }] of this.#added) {
      const value: unknown = this.#command.getOptionValue(option.attributeName()) ?? spec.default;
      if (spec.mandatory && value === undefined) {
        throw new UsageError("missing_option", `missing ${option.flags}: give the flag${variableHint(spec)}`);
      }
      values[key] = value;
    }
    // Each value is what the spec's own `parse` returned (from the flag or the variable), `true`
    // for a switch's flag, or the spec's default: the type `OptionValues<S>` gives it.
    return values as OptionValues<S>;
  }
}

/** Reads a flag's argument or a variable's value with the option's parser; a bad one is a typed error. */
function parseText(option: Option, spec: OptionSpec<unknown>, value: string, variable: string | undefined): unknown {
  try {
    return spec.parse(value);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    throw new InvalidOptionValueError(option.long ?? option.flags, variable, value, error.message);
  }
}

function variableHint(spec: OptionSpec<unknown>): string {
  return spec.variable === undefined ? "" : ` or set ${spec.variable}`;
}

/**
 * Checks what single flags cannot: combinations.
 *
 * @throws {UsageError} for contradictory flags
 */
function toConfig(o: OptionValues<typeof ROUTER_OPTIONS>, env: Environment): Config {
  if (o.disableOsc10 && o.disableOsc11) {
    throw new UsageError(
      "conflicting_options",
      "both ports are disabled (--disable-osc10 and --disable-osc11); keep at least one",
    );
  }
  const open = [
    o.disableOsc10 ? [] : [["--osc-port", o.oscPort]],
    o.disableOsc11 ? [] : [["--osc11-port", o.osc11Port]],
    o.httpPort === undefined ? [] : [["--http-port", o.httpPort]],
  ].flat() as [string, number][];
  for (const [i, [flag, value]] of open.entries()) {
    const clash = open.slice(i + 1).find(([, other]) => other === value);
    if (clash) {
      throw new UsageError(
        "conflicting_options",
        `${flag} and ${clash[0]} are both ${value}; give them different ports`,
      );
    }
  }
  if (o.closed && o.groupsFile === undefined) {
    throw new UsageError(
      "conflicting_options",
      "--closed allows only declared groups, and none are declared: give --groups FILE too",
    );
  }
  const minQueue = 2 * (o.maxPacketBytes + 8);
  if (o.maxQueueBytes < minQueue) {
    throw new UsageError(
      "conflicting_options",
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
      registerTimeoutMs: o.registerTimeoutMs,
      strictFraming: o.strictFraming,
      maxMemoryBytes: o.maxMemoryBytes,
      writeTimeoutMs: o.writeTimeoutMs,
      maxConnectionsPerAddress: o.maxConnectionsPerAddress,
      maxUnregisteredPerAddress: o.maxUnregisteredPerAddress,
      pingTimeoutMs: o.pingTimeoutMs,
    },
    http: o.httpPort === undefined ? undefined : httpConfig(o, o.httpPort, env),
    log: logOptions(o),
    access: { groupsFile: o.groupsFile, closed: o.closed, registersPerSecond: o.registersPerSecond },
    cluster: o.cluster === undefined ? undefined : clusterConfig(o, o.cluster, env),
  };
}

/**
 * Checks NATS URLs: nats:// or tls://, and no credentials (they belong in a file or the
 * environment). Checked here rather than by the option's parser, whose error repeats the value,
 * password included; these messages never show the URL.
 */
function checkNatsUrls(urls: string[]): string[] {
  if (urls.length === 0) {
    throw new UsageError("invalid_value", "--cluster needs at least one NATS server, e.g. nats://127.0.0.1:4222");
  }
  for (const [i, url] of urls.entries()) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError("invalid_value", `--cluster: server ${i + 1} is not a URL; give nats://HOST:PORT`);
    }
    if (parsed.username !== "" || parsed.password !== "") {
      throw new UsageError(
        "invalid_value",
        "--cluster: NATS credentials do not belong on the command line (other users can read it); use " +
          "TCPOSCROUTER_CLUSTER_USER and TCPOSCROUTER_CLUSTER_PASSWORD, TCPOSCROUTER_CLUSTER_TOKEN or --cluster-creds-file",
      );
    }
    if (parsed.protocol !== "nats:" && parsed.protocol !== "tls:") {
      throw new UsageError(
        "invalid_value",
        `--cluster: '${parsed.protocol}' is not a NATS scheme; give nats://HOST:PORT or tls://HOST:PORT`,
      );
    }
  }
  return urls;
}

function clusterConfig(o: OptionValues<typeof ROUTER_OPTIONS>, servers: string[], env: Environment): ClusterConfig {
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

function httpConfig(o: OptionValues<typeof ROUTER_OPTIONS>, httpPort: number, env: Environment): HttpConfig {
  const token = env["TCPOSCROUTER_HTTP_TOKEN"];
  if (token !== undefined && o.httpTokenFile !== undefined) {
    throw new UsageError(
      "conflicting_options",
      "give the status page token once: TCPOSCROUTER_HTTP_TOKEN or --http-token-file, not both",
    );
  }
  if (token !== undefined && token.trim() === "") {
    throw new UsageError("invalid_value", "TCPOSCROUTER_HTTP_TOKEN is empty; set a token or unset the variable");
  }
  return {
    hostname: o.httpHost,
    port: httpPort,
    allowOrigins: o.httpAllowOrigins ?? [],
    allowHosts: o.httpAllowHosts ?? [],
    token: token?.trim(),
    tokenFile: o.httpTokenFile,
  };
}

function logOptions(o: OptionValues<typeof LOG_OPTIONS>): LogOptions {
  return {
    level: o.logLevel,
    format: o.logFormat,
    dir: o.logDir,
    maxFileBytes: o.logMaxFileBytes,
    maxFiles: o.logMaxFiles,
  };
}

function toBridgeConfig(o: OptionValues<typeof BRIDGE_OPTIONS>, env: Environment): BridgeConfig {
  return {
    bridge: {
      server: o.server,
      framing: o.framing,
      user: o.user,
      group: o.group,
      listenUdp: o.listenUdp,
      sendUdp: o.sendUdp,
      ...(o.allowUdpFrom === undefined ? {} : { allowUdpFrom: o.allowUdpFrom }),
      maxQueueBytes: o.maxQueueBytes,
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
    },
    passwords: o.passwordFile === undefined ? passwordsFromEnvironment(env) : { file: o.passwordFile },
    log: logOptions(o),
  };
}

/** The bridge's passwords from the environment (never from flags: other users can read process arguments). */
function passwordsFromEnvironment(env: Environment): { userPassword: string; groupPassword: string } {
  const userPassword = env["TCPOSCROUTER_USER_PASSWORD"];
  const groupPassword = env["TCPOSCROUTER_GROUP_PASSWORD"];
  if (userPassword === undefined || groupPassword === undefined) {
    throw new UsageError(
      "missing_secret",
      "set TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD, or give --password-file " +
        "(passwords are never taken from the command line)",
    );
  }
  return { userPassword, groupPassword };
}

/** What parsing decided: run a command with its settings, or print a text (help, version) and exit 0. */
export type ParseResult =
  | { kind: "run"; config: Config }
  | { kind: "bridge"; config: BridgeConfig }
  | { kind: "hash-password"; config: HashPasswordConfig }
  | { kind: "print"; text: string };

/** How help is laid out. */
export interface HelpLayout {
  /** Columns to wrap help at (default 80; main.ts gives the terminal's width). */
  helpWidth?: number | undefined;
}

/** commander's error codes, as usage error codes. */
const COMMANDER_CODES: Readonly<Record<string, UsageErrorCode>> = {
  "commander.unknownOption": "unknown_option",
  "commander.unknownCommand": "unknown_command",
  "commander.excessArguments": "excess_arguments",
  "commander.missingMandatoryOptionValue": "missing_option",
  "commander.optionMissingArgument": "missing_value",
  "commander.missingArgument": "missing_value",
  "commander.invalidArgument": "invalid_value",
};

/**
 * Parses the command line and the environment into typed settings. Pure: it reads only its
 * arguments (never `process.env` or `Deno.env`) and writes nothing; the caller prints.
 *
 * @param args the arguments (without the program name); a leading `--` (from `deno task start --`) is skipped
 * @param env the environment, for the `TCPOSCROUTER_*` variables (e.g. `Deno.env.toObject()`)
 * @param version the version for --version
 * @param layout how help is laid out
 * @returns the command to run with its settings, or the text to print (--help, --version)
 * @throws {UsageError} for bad flags or variables ({@linkcode InvalidOptionValueError} for a bad value)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommandLine } from "./options.ts";
 * const parsed = parseCommandLine(["--register-timeout", "3"], { TCPOSCROUTER_OSC11_PORT: "6001" }, "1.0.0");
 * assert.ok(parsed.kind === "run");
 * assert.equal(parsed.config.server.registerTimeoutMs, 3000);
 * assert.equal(parsed.config.server.slipPort, 6001);
 * assert.equal(parsed.config.server.lengthPrefixPort, 55555);
 *
 * const help = parseCommandLine(["--help"], {}, "1.0.0");
 * assert.ok(help.kind === "print" && help.text.includes("env: TCPOSCROUTER_OSC11_PORT"));
 * ```
 */
export function parseCommandLine(
  args: readonly string[],
  env: Environment,
  version: string,
  layout: HelpLayout = {},
): ParseResult {
  let out = "";
  let err = "";
  const helpWidth = layout.helpWidth ?? 80;
  const variables = new Map<Option, string>();
  const program = new Command("tcposcrouter")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => out += s,
      writeErr: (s) => err += s,
      outputError: () => {}, // the message goes into the UsageError instead
      getOutHelpWidth: () => helpWidth,
      getErrHelpWidth: () => helpWidth,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .configureHelp({
      // Help shows each option's variable, which commander does not know (it would read process.env).
      optionDescription(this: Help, option: Option): string {
        const variable = variables.get(option);
        const shown = variable === undefined ? option : Object.assign(Object.create(option), { envVar: variable });
        return Help.prototype.optionDescription.call(this, shown);
      },
    })
    .description(
      "OpenSoundControl router over TCP: clients log into password-protected groups and every message " +
        "one of them sends reaches the others. Port 55555 speaks OSC 1.0 (size-prefixed packets, " +
        "SuperCollider), port 55556 OSC 1.1 (SLIP, Pure Data); either port also accepts the other framing. " +
        "Every option can also be set by the environment variable shown beside it.",
    )
    // The options after `bridge` are the bridge's, even those the router has too (--log-*).
    .enablePositionalOptions()
    .version(version, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show this help and exit");
  const routerOptions = new CommandOptions(program, ROUTER_OPTIONS, variables);
  program
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

  const bridge = program.command("bridge")
    .description(
      "Bring a UDP-only OSC app (TouchOSC, Max, Open Stage Control, ...) into a group: join a router over TCP " +
        "as one user and relay packets byte for byte between the group and the app's UDP ports. Passwords come " +
        "from TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD or from --password-file, never from " +
        "the command line (other users of the machine can read process arguments).",
    );
  const bridgeOptions = new CommandOptions(bridge, BRIDGE_OPTIONS, variables);
  bridge
    .showHelpAfterError("(run tcposcrouter bridge --help for every option of bridge)")
    .addHelpText(
      "after",
      "\nExample (TouchOSC on this machine sending to 57130 and listening on 57120):\n" +
        "  export TCPOSCROUTER_USER_PASSWORD=... TCPOSCROUTER_GROUP_PASSWORD=...\n" +
        "  tcposcrouter bridge --server venue.example.org:55555 --user touchosc --group band\n" +
        "A phone on the Wi-Fi (only its datagrams are relayed):\n" +
        "  tcposcrouter bridge --server venue.example.org:55555 --user phone --group band \\\n" +
        "    --listen-udp 0.0.0.0:57130 --send-udp 192.168.1.23:9000",
    );

  const hashPassword = program.command("hash-password")
    .description(
      "Read a password without echo (from the terminal, or the first line of standard input when piped) and " +
        "print the line to paste into the groups file: a salted scrypt hash, never the password.",
    );
  const hashPasswordOptions = new CommandOptions(hashPassword, HASH_PASSWORD_OPTIONS, variables);
  hashPassword.showHelpAfterError("(run tcposcrouter hash-password --help for every option of hash-password)");
  hashPassword.addHelpText(
    "after",
    "\nExamples:\n" +
      '  tcposcrouter hash-password                   asks twice, prints password = "$scrypt$..."\n' +
      '  tcposcrouter hash-password --user ana        prints ana = "$scrypt$..."\n' +
      "  printf '%s\\n' \"$PW\" | tcposcrouter hash-password",
  );

  program.hook("preSubcommand", (_program, subcommand) => {
    const given = routerOptions.givenFlag();
    if (given === undefined) return;
    const name = subcommand.name();
    throw new UsageError(
      "misplaced_option",
      `${given.long} before '${name}' is an option of the router, not of ${name}: ` +
        `put ${name}'s options after '${name}' (tcposcrouter ${name} --help lists them)`,
    );
  });
  // commander finds the command that runs; only its variables are read.
  let result: ParseResult | undefined;
  program.action(() => {
    routerOptions.applyVariables(env);
    result = { kind: "run", config: toConfig(routerOptions.read(), env) };
  });
  bridge.action(() => {
    bridgeOptions.applyVariables(env);
    result = { kind: "bridge", config: toBridgeConfig(bridgeOptions.read(), env) };
  });
  hashPassword.action(() => {
    hashPasswordOptions.applyVariables(env);
    result = { kind: "hash-password", config: hashPasswordOptions.read() };
  });

  // `deno task start -- --version` (the npm habit) passes a leading "--": it separates the
  // task runner's arguments from ours, so it is not an end-of-options marker here.
  const userArgs = args[0] === "--" ? args.slice(1) : [...args];
  try {
    program.parse(userArgs, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return { kind: "print", text: out }; // --help, --version
    const message = error.message.replace(/^error: /, "");
    const hint = err.trim();
    throw new UsageError(COMMANDER_CODES[error.code] ?? "bad_usage", hint === "" ? message : `${message}\n${hint}`);
  }
  if (result === undefined) throw new Error("commander ran no command; this is a bug in lib/cli/options.ts");
  return result;
}
