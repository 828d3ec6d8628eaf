/**
 * Every option of every command, by a table of (flag, variable, default -> setting), parsed in
 * process: the default when neither is given, the flag, the variable, the flag winning over the
 * variable, and the values each refuses. Each case compares the whole settings, so an option that
 * sets another setting than its own (TCPOSCROUTER_OSC11_PORT setting the 1.0 port) fails.
 */
import assert from "node:assert/strict";
import {
  type Environment,
  InvalidOptionValueError,
  parseCommandLine,
  type ParseResult,
  UsageError,
} from "../../lib/cli/options.ts";

type Command = "router" | "bridge" | "hash-password";

/** One option: where its value lands in the settings, and what it makes of a few texts. */
interface Row {
  command: Command;
  /** The long flag. */
  flag: string;
  /** Its variable; undefined: none (a flag only). */
  variable: string | undefined;
  /** Where the value lands in the command's settings. */
  path: readonly string[];
  /** The setting when neither the flag nor the variable is given; REQUIRED: the command refuses to run. */
  default: unknown;
  /** What `--help` shows as the default (undefined: none shown). */
  helpDefault: string | undefined;
  /** A text to give and the setting it makes; a switch has no text (`undefined`) and makes `true`. */
  given: [text: string | undefined, setting: unknown];
  /** Another text the variable may hold, which the flag then overrides. */
  other: string;
  /** Texts the option refuses. */
  bad: string[];
  /** Arguments the case needs besides the option (e.g. --http-port for the http settings). */
  base?: string[];
}

const REQUIRED = Symbol("required");

const PORT_BAD = ["0", "65536", "abc", "-1", "1.5", ""];
const LOG_ROWS = (command: Command): Row[] => [
  {
    command,
    flag: "--log-dir",
    variable: "TCPOSCROUTER_LOG_DIR",
    path: ["log", "dir"],
    default: undefined,
    helpDefault: undefined,
    given: ["/var/log/x", "/var/log/x"],
    other: "/tmp/y",
    bad: [],
  },
  {
    command,
    flag: "--log-level",
    variable: "TCPOSCROUTER_LOG_LEVEL",
    path: ["log", "level"],
    default: "info",
    helpDefault: '"info"',
    given: ["debug", "debug"],
    other: "error",
    bad: ["loud", "INFO", ""],
  },
  {
    command,
    flag: "--log-format",
    variable: "TCPOSCROUTER_LOG_FORMAT",
    path: ["log", "format"],
    default: "text",
    helpDefault: '"text"',
    given: ["json", "json"],
    other: "text",
    bad: ["xml"],
  },
  {
    command,
    flag: "--log-max-bytes",
    variable: "TCPOSCROUTER_LOG_MAX_BYTES",
    path: ["log", "maxFileBytes"],
    default: 10 * 1024 * 1024,
    helpDefault: "10485760",
    given: ["2048", 2048],
    other: "4096",
    bad: ["1023", "x", String(2 ** 40 + 1)],
  },
  {
    command,
    flag: "--log-max-files",
    variable: "TCPOSCROUTER_LOG_MAX_FILES",
    path: ["log", "maxFiles"],
    default: 5,
    helpDefault: "5",
    given: ["2", 2],
    other: "9",
    bad: ["0", "1001"],
  },
];

const HTTP = ["--http-port", "8080"];
const http = (more: Record<string, unknown>) => ({
  hostname: "::",
  port: 8080,
  allowOrigins: [],
  allowHosts: [],
  token: undefined,
  tokenFile: undefined,
  ...more,
});

const CLUSTER = ["--cluster", "nats://h:4222"];
const cluster = (more: Record<string, unknown>) => ({
  servers: ["nats://h:4222"],
  name: "tcposcrouter",
  replicas: 1,
  credsFile: undefined,
  caFile: undefined,
  user: undefined,
  password: undefined,
  token: undefined,
  ...more,
});

const ROWS: Row[] = [
  {
    command: "router",
    flag: "--osc-port",
    variable: "TCPOSCROUTER_OSC_PORT",
    path: ["server", "lengthPrefixPort"],
    default: 55555,
    helpDefault: "55555",
    given: ["6000", 6000],
    other: "6002",
    bad: PORT_BAD,
  },
  {
    command: "router",
    flag: "--osc11-port",
    variable: "TCPOSCROUTER_OSC11_PORT",
    path: ["server", "slipPort"],
    default: 55556,
    helpDefault: "55556",
    given: ["6001", 6001],
    other: "6003",
    bad: PORT_BAD,
  },
  {
    command: "router",
    flag: "--disable-osc10",
    variable: "TCPOSCROUTER_DISABLE_OSC10",
    path: ["server", "lengthPrefixPort"],
    default: 55555,
    helpDefault: undefined,
    given: [undefined, undefined],
    other: "0",
    bad: [],
  },
  {
    command: "router",
    flag: "--disable-osc11",
    variable: "TCPOSCROUTER_DISABLE_OSC11",
    path: ["server", "slipPort"],
    default: 55556,
    helpDefault: undefined,
    given: [undefined, undefined],
    other: "0",
    bad: [],
  },
  {
    command: "router",
    flag: "--host",
    variable: "TCPOSCROUTER_HOST",
    path: ["server", "hostname"],
    default: "::",
    helpDefault: '"::"',
    given: ["127.0.0.1", "127.0.0.1"],
    other: "0.0.0.0",
    bad: [],
  },
  {
    command: "router",
    flag: "--http-port",
    variable: "TCPOSCROUTER_HTTP_PORT",
    path: ["http"],
    default: undefined,
    helpDefault: undefined,
    given: ["8080", http({})],
    other: "8081",
    bad: PORT_BAD,
  },
  {
    command: "router",
    flag: "--http-host",
    variable: "TCPOSCROUTER_HTTP_HOST",
    path: ["http", "hostname"],
    default: "::",
    helpDefault: '"::"',
    given: ["127.0.0.1", "127.0.0.1"],
    other: "::1",
    bad: [],
    base: HTTP,
  },
  {
    command: "router",
    flag: "--http-allow-origin",
    variable: "TCPOSCROUTER_HTTP_ALLOW_ORIGIN",
    path: ["http", "allowOrigins"],
    default: [],
    helpDefault: undefined,
    given: [" http://a:1, ,http://b:2 ", ["http://a:1", "http://b:2"]],
    other: "*",
    bad: [],
    base: HTTP,
  },
  {
    command: "router",
    flag: "--http-allow-host",
    variable: "TCPOSCROUTER_HTTP_ALLOW_HOST",
    path: ["http", "allowHosts"],
    default: [],
    helpDefault: undefined,
    given: ["pi.local,venue.example.org", ["pi.local", "venue.example.org"]],
    other: "other.example.org",
    bad: [],
    base: HTTP,
  },
  {
    command: "router",
    flag: "--http-token-file",
    variable: "TCPOSCROUTER_HTTP_TOKEN_FILE",
    path: ["http", "tokenFile"],
    default: undefined,
    helpDefault: undefined,
    given: ["/etc/token", "/etc/token"],
    other: "/tmp/other",
    bad: [],
    base: HTTP,
  },
  {
    command: "router",
    flag: "--strict-framing",
    variable: "TCPOSCROUTER_STRICT_FRAMING",
    path: ["server", "strictFraming"],
    default: false,
    helpDefault: undefined,
    given: [undefined, true],
    other: "off",
    bad: [],
  },
  {
    command: "router",
    flag: "--max-packet-bytes",
    variable: "TCPOSCROUTER_MAX_PACKET_BYTES",
    path: ["server", "maxPacketBytes"],
    default: 1024 * 1024,
    helpDefault: "1048576",
    given: ["4096", 4096],
    other: "8192",
    bad: ["15", String(16 * 1024 * 1024), "1e3", "0x10"],
  },
  {
    command: "router",
    flag: "--max-queue-bytes",
    variable: "TCPOSCROUTER_MAX_QUEUE_BYTES",
    path: ["server", "maxQueueBytes"],
    default: 4 * 1024 * 1024,
    helpDefault: "4194304",
    given: ["8388608", 8 * 1024 * 1024],
    other: "5000000",
    bad: ["1023", "many"],
  },
  {
    command: "router",
    flag: "--max-connections",
    variable: "TCPOSCROUTER_MAX_CONNECTIONS",
    path: ["server", "maxConnections"],
    default: 256,
    helpDefault: "256",
    given: ["1000", 1000],
    other: "2",
    bad: ["0", "1000001"],
  },
  {
    command: "router",
    flag: "--max-memory-bytes",
    variable: "TCPOSCROUTER_MAX_MEMORY_BYTES",
    path: ["server", "maxMemoryBytes"],
    default: 256 * 1024 * 1024,
    helpDefault: "268435456",
    given: ["1048576", 1024 * 1024],
    other: "2097152",
    bad: ["1048575", "1 GB"],
  },
  {
    command: "router",
    flag: "--write-timeout",
    variable: "TCPOSCROUTER_WRITE_TIMEOUT",
    path: ["server", "writeTimeoutMs"],
    default: 10_000,
    helpDefault: "10",
    given: ["3", 3000],
    other: "7",
    bad: ["0", "86401", "2.5", "3s"],
  },
  {
    command: "router",
    flag: "--max-connections-per-address",
    variable: "TCPOSCROUTER_MAX_CONNECTIONS_PER_ADDRESS",
    path: ["server", "maxConnectionsPerAddress"],
    default: 32,
    helpDefault: "32",
    given: ["100", 100],
    other: "5",
    bad: ["0", "x"],
  },
  {
    command: "router",
    flag: "--max-unregistered-per-address",
    variable: "TCPOSCROUTER_MAX_UNREGISTERED_PER_ADDRESS",
    path: ["server", "maxUnregisteredPerAddress"],
    default: 8,
    helpDefault: "8",
    given: ["20", 20],
    other: "2",
    bad: ["0", "x"],
  },
  {
    command: "router",
    flag: "--ping-timeout",
    variable: "TCPOSCROUTER_PING_TIMEOUT",
    path: ["server", "pingTimeoutMs"],
    default: 15_000,
    helpDefault: "15",
    given: ["0", 0],
    other: "30",
    bad: ["-1", "86401", "1.5"],
  },
  {
    command: "router",
    flag: "--register-timeout",
    variable: "TCPOSCROUTER_REGISTER_TIMEOUT",
    path: ["server", "registerTimeoutMs"],
    default: 60_000,
    helpDefault: "60",
    given: ["3", 3000],
    other: "120",
    bad: ["0", "86401", "3000ms"],
  },
  {
    command: "router",
    flag: "--groups",
    variable: "TCPOSCROUTER_GROUPS",
    path: ["access", "groupsFile"],
    default: undefined,
    helpDefault: undefined,
    given: ["/etc/groups.toml", "/etc/groups.toml"],
    other: "/tmp/other.toml",
    bad: [],
  },
  {
    command: "router",
    flag: "--closed",
    variable: "TCPOSCROUTER_CLOSED",
    path: ["access", "closed"],
    default: false,
    helpDefault: undefined,
    given: [undefined, true],
    other: "false",
    bad: [],
    base: ["--groups", "/etc/groups.toml"],
  },
  {
    command: "router",
    flag: "--max-registers-per-second",
    variable: "TCPOSCROUTER_MAX_REGISTERS_PER_SECOND",
    path: ["access", "registersPerSecond"],
    default: 10,
    helpDefault: "10",
    given: ["100", 100],
    other: "1",
    bad: ["0", "ten"],
  },
  {
    command: "router",
    flag: "--cluster",
    variable: "TCPOSCROUTER_CLUSTER",
    path: ["cluster"],
    default: undefined,
    helpDefault: undefined,
    given: ["nats://a:4222, nats://b:4222", cluster({ servers: ["nats://a:4222", "nats://b:4222"] })],
    other: "nats://c:4222",
    bad: [], // URLs are checked with the whole settings (tests/cluster/cluster_view_test.ts)
  },
  {
    command: "router",
    flag: "--cluster-name",
    variable: "TCPOSCROUTER_CLUSTER_NAME",
    path: ["cluster", "name"],
    default: "tcposcrouter",
    helpDefault: '"tcposcrouter"',
    given: ["venue", "venue"],
    other: "other_1",
    bad: ["a.b", "", "a b", "x".repeat(65)],
    base: CLUSTER,
  },
  {
    command: "router",
    flag: "--cluster-replicas",
    variable: "TCPOSCROUTER_CLUSTER_REPLICAS",
    path: ["cluster", "replicas"],
    default: 1,
    helpDefault: "1",
    given: ["3", 3],
    other: "2",
    bad: ["0", "6", "x"],
    base: CLUSTER,
  },
  {
    command: "router",
    flag: "--cluster-creds-file",
    variable: "TCPOSCROUTER_CLUSTER_CREDS_FILE",
    path: ["cluster", "credsFile"],
    default: undefined,
    helpDefault: undefined,
    given: ["/etc/nats/router.creds", "/etc/nats/router.creds"],
    other: "/tmp/x.creds",
    bad: [],
    base: CLUSTER,
  },
  {
    command: "router",
    flag: "--cluster-ca-file",
    variable: "TCPOSCROUTER_CLUSTER_CA_FILE",
    path: ["cluster", "caFile"],
    default: undefined,
    helpDefault: undefined,
    given: ["/etc/nats/ca.pem", "/etc/nats/ca.pem"],
    other: "/tmp/ca.pem",
    bad: [],
    base: CLUSTER,
  },
  ...LOG_ROWS("router"),
  {
    command: "bridge",
    flag: "--server",
    variable: "TCPOSCROUTER_BRIDGE_SERVER",
    path: ["bridge", "server"],
    default: REQUIRED,
    helpDefault: undefined,
    given: ["[::1]:6000", { hostname: "::1", port: 6000 }],
    other: "venue.example.org:55555",
    bad: ["nohost", "host:0", "host:65536", "host:"],
  },
  {
    command: "bridge",
    flag: "--framing",
    variable: "TCPOSCROUTER_BRIDGE_FRAMING",
    path: ["bridge", "framing"],
    default: "length-prefix",
    helpDefault: '"length"',
    given: ["slip", "slip"],
    other: "length",
    bad: ["length-prefix", "SLIP", "tcp"],
  },
  {
    command: "bridge",
    flag: "--user",
    variable: "TCPOSCROUTER_BRIDGE_USER",
    path: ["bridge", "user"],
    default: REQUIRED,
    helpDefault: undefined,
    given: ["touchosc", "touchosc"],
    other: "phone",
    bad: [],
  },
  {
    command: "bridge",
    flag: "--group",
    variable: "TCPOSCROUTER_BRIDGE_GROUP",
    path: ["bridge", "group"],
    default: REQUIRED,
    helpDefault: undefined,
    given: ["band", "band"],
    other: "choir",
    bad: [],
  },
  {
    command: "bridge",
    flag: "--listen-udp",
    variable: "TCPOSCROUTER_BRIDGE_LISTEN_UDP",
    path: ["bridge", "listenUdp"],
    default: { hostname: "127.0.0.1", port: 57130 },
    helpDefault: "127.0.0.1:57130",
    given: [":9000", { hostname: "0.0.0.0", port: 9000 }],
    other: "127.0.0.1:9001",
    bad: ["9000", "x:y"],
  },
  {
    command: "bridge",
    flag: "--send-udp",
    variable: "TCPOSCROUTER_BRIDGE_SEND_UDP",
    path: ["bridge", "sendUdp"],
    default: { hostname: "127.0.0.1", port: 57120 },
    helpDefault: "127.0.0.1:57120",
    given: ["192.168.1.23:9000", { hostname: "192.168.1.23", port: 9000 }],
    other: "127.0.0.1:9001",
    bad: ["192.168.1.23"],
  },
  {
    command: "bridge",
    flag: "--allow-udp-from",
    variable: "TCPOSCROUTER_BRIDGE_ALLOW_UDP_FROM",
    path: ["bridge", "allowUdpFrom"],
    default: undefined,
    helpDefault: undefined,
    given: ["10.0.0.2, phone.local", ["10.0.0.2", "phone.local"]],
    other: "any",
    bad: [],
  },
  {
    command: "bridge",
    flag: "--password-file",
    variable: "TCPOSCROUTER_PASSWORD_FILE",
    path: ["passwords"],
    default: { userPassword: "userPw", groupPassword: "groupPw" },
    helpDefault: undefined,
    given: ["/etc/bridge-passwords", { file: "/etc/bridge-passwords" }],
    other: "/tmp/other",
    bad: [],
  },
  {
    command: "bridge",
    flag: "--queue-bytes",
    variable: "TCPOSCROUTER_BRIDGE_QUEUE_BYTES",
    path: ["bridge", "maxQueueBytes"],
    default: 1024 * 1024,
    helpDefault: "1048576",
    given: ["0", 0],
    other: "4096",
    bad: ["-1", String(2 ** 30 + 1)],
  },
  ...LOG_ROWS("bridge"),
  {
    command: "hash-password",
    flag: "--user",
    variable: undefined,
    path: ["user"],
    default: undefined,
    helpDefault: undefined,
    given: ["ana", "ana"],
    other: "",
    bad: [],
  },
];

/** The bridge's required flags and passwords, for the rows about its other options. */
const BRIDGE_REQUIRED: Record<string, string> = { "--server": "127.0.0.1:9", "--user": "u", "--group": "g" };
const BRIDGE_ENV = { TCPOSCROUTER_USER_PASSWORD: "userPw", TCPOSCROUTER_GROUP_PASSWORD: "groupPw" };

/** The command line of a case: the command, what it needs, what the row needs, then `args`. */
function commandLine(row: Row, args: string[]): string[] {
  const base = row.base ?? [];
  if (row.command === "router") return [...base, ...args];
  if (row.command === "hash-password") return ["hash-password", ...base, ...args];
  const required = Object.entries(BRIDGE_REQUIRED).filter(([flag]) => flag !== row.flag).flat();
  return ["bridge", ...required, ...base, ...args];
}

function environment(row: Row, env: Record<string, string>): Environment {
  return row.command === "bridge" ? { ...BRIDGE_ENV, ...env } : env;
}

/** The settings of a parse that runs the row's command. */
function settings(row: Row, args: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const result = parseCommandLine(commandLine(row, args), environment(row, env), "0.0.0");
  const kind = ({ router: "run", bridge: "bridge", "hash-password": "hash-password" } as const)[row.command];
  assert.equal(result.kind, kind);
  return (result as Extract<ParseResult, { config: unknown }>).config as unknown as Record<string, unknown>;
}

/** A copy of `settings` with the value at `path` replaced. */
function withSetting(settings: Record<string, unknown>, path: readonly string[], value: unknown) {
  const copy = structuredClone(settings);
  let at: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[path.at(-1)!] = value;
  return copy;
}

function valueAt(settings: Record<string, unknown>, path: readonly string[]): unknown {
  return path.reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], settings);
}

function flagArgs(row: Row, text: string | undefined): string[] {
  return text === undefined ? [row.flag] : [row.flag, text];
}

const name = (row: Row) => `${row.command} ${row.flag}`;

/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

Deno.test("options table: the default applies when neither the flag nor its variable is given", () => {
  for (const row of ROWS) {
    if (row.default === REQUIRED) {
      assert.throws(
        () => settings(row, []),
        (error) => error instanceof UsageError && error.code === "missing_option" && error.message.includes(row.flag),
        name(row),
      );
      continue;
    }
    assert.deepEqual(valueAt(settings(row, []), row.path), row.default, name(row));
  }
});

Deno.test("options table: the flag sets its own setting and no other", () => {
  for (const row of ROWS) {
    if (row.default === REQUIRED) {
      assert.deepEqual(valueAt(settings(row, flagArgs(row, row.given[0])), row.path), row.given[1], name(row));
      continue;
    }
    const defaults = settings(row, []);
    const [text, setting] = row.given;
    assert.deepEqual(settings(row, flagArgs(row, text)), withSetting(defaults, row.path, setting), name(row));
  }
});

Deno.test("options table: the variable sets the same setting as its flag, and no other", () => {
  for (const row of ROWS) {
    if (row.variable === undefined) continue;
    const [text, setting] = row.given;
    const fromFlag = settings(row, flagArgs(row, text));
    assert.deepEqual(settings(row, [], { [row.variable]: text ?? "1" }), fromFlag, name(row));
    assert.deepEqual(valueAt(fromFlag, row.path), setting, name(row));
  }
});

Deno.test("options table: a flag wins over its variable", () => {
  for (const row of ROWS) {
    if (row.variable === undefined) continue;
    const [text, setting] = row.given;
    const both = settings(row, flagArgs(row, text), { [row.variable]: row.other });
    assert.deepEqual(valueAt(both, row.path), setting, name(row));
    assert.deepEqual(both, settings(row, flagArgs(row, text)), name(row));
  }
});

Deno.test("options table: a flag overriding a bad variable is used, the variable is not read", () => {
  for (const row of ROWS.filter((r) => r.variable !== undefined && r.bad.length > 0)) {
    const [text, setting] = row.given;
    assert.deepEqual(valueAt(settings(row, flagArgs(row, text), { [row.variable!]: row.bad[0]! }), row.path), setting);
  }
});

Deno.test("options table: bad values of the flag and of the variable are typed errors naming them", () => {
  for (const row of ROWS) {
    for (const bad of row.bad) {
      assert.throws(() => settings(row, [row.flag, bad]), (error) => {
        assert.ok(error instanceof InvalidOptionValueError, `${name(row)} ${bad}: ${error}`);
        assert.equal(error.code, "invalid_value");
        assert.equal(error.flag, row.flag);
        assert.equal(error.variable, undefined);
        assert.equal(error.value, bad);
        assert.match(error.message, new RegExp(`^${row.flag} must .*, got '${literal(bad)}'$`));
        return true;
      });
      const variable = row.variable;
      if (variable === undefined) continue;
      assert.throws(() => settings(row, [], { [variable]: bad }), (error) => {
        assert.ok(error instanceof InvalidOptionValueError, `${row.variable}=${bad}: ${error}`);
        assert.equal(error.flag, row.flag);
        assert.equal(error.variable, row.variable);
        assert.match(error.message, new RegExp(`^${row.variable} \\(${row.flag}\\) must .*; correct the variable`));
        return true;
      });
    }
  }
});

Deno.test("options table: help shows each option with its variable and its default, and the table has them all", () => {
  for (const command of ["router", "bridge", "hash-password"] as const) {
    const args = command === "router" ? ["--help"] : [command, "--help"];
    const help = parseCommandLine(args, {}, "0.0.0", { helpWidth: 1000 });
    assert.ok(help.kind === "print");
    const options = help.text.split("\nOptions:\n")[1]!.split("\n\n")[0]!;
    const lines = options.split("\n").filter((line) => /^\s+--[a-z]/.test(line));
    const rows = ROWS.filter((row) => row.command === command);
    assert.deepEqual(
      lines.map((line) => /^\s+(--[a-z0-9-]+)/.exec(line)![1]),
      rows.map((row) => row.flag),
      `${command}: the table lists every flag help shows, in help's order`,
    );
    for (const [i, row] of rows.entries()) {
      // commander's suffix: "(choices: ..., default: ..., env: ...)" after the description.
      const suffix = /\(([^()]*)\)$/.exec(lines[i]!)?.[1] ?? "";
      if (row.variable === undefined) assert.doesNotMatch(suffix, /env:/, name(row));
      else assert.match(suffix, new RegExp(`env: ${row.variable}$`), name(row));
      if (row.helpDefault === undefined) assert.doesNotMatch(suffix, /default:/, name(row));
      else assert.ok(suffix.includes(`default: ${row.helpDefault},`), `${name(row)}: ${suffix}`);
    }
  }
});

Deno.test("options table: switch variables are off when empty, 0, false, no or off, and on otherwise", () => {
  for (const row of ROWS.filter((r) => r.given[0] === undefined)) {
    for (const off of ["", "0", "false", "FALSE", "no", "off", " off "]) {
      assert.deepEqual(settings(row, [], { [row.variable!]: off }), settings(row, []), `${row.variable}=${off}`);
    }
    for (const on of ["1", "true", "yes", "on", "anything"]) {
      assert.deepEqual(
        valueAt(settings(row, [], { [row.variable!]: on }), row.path),
        row.given[1],
        `${row.variable}=${on}`,
      );
    }
  }
});

Deno.test("options: only the environment record is read, never the process's environment", () => {
  Deno.env.set("TCPOSCROUTER_OSC_PORT", "7000");
  Deno.env.set("TCPOSCROUTER_REGISTER_TIMEOUT", "not a number");
  try {
    const result = parseCommandLine([], {}, "0.0.0");
    assert.ok(result.kind === "run");
    assert.equal(result.config.server.lengthPrefixPort, 55555);
    assert.equal(result.config.server.registerTimeoutMs, 60_000);
  } finally {
    Deno.env.delete("TCPOSCROUTER_OSC_PORT");
    Deno.env.delete("TCPOSCROUTER_REGISTER_TIMEOUT");
  }
});

Deno.test("options: a command reads only its own options' variables", () => {
  const bridgeOnly = { TCPOSCROUTER_BRIDGE_SERVER: "not an address", TCPOSCROUTER_BRIDGE_QUEUE_BYTES: "-5" };
  assert.equal(parseCommandLine([], bridgeOnly, "0.0.0").kind, "run");
  const routerOnly = { ...BRIDGE_ENV, TCPOSCROUTER_OSC_PORT: "0", TCPOSCROUTER_CLOSED: "1" };
  const bridge = parseCommandLine(["bridge", "--server", ":1", "--user", "u", "--group", "g"], routerOnly, "0.0.0");
  assert.equal(bridge.kind, "bridge");
});
