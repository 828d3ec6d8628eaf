/**
 * What the command line decides beyond single options, in process: combinations, commander's own
 * refusals as typed errors, help and version, the commands commander finds.
 */
import assert from "node:assert/strict";
import { InvalidOptionValueError, parseCommandLine, UsageError, type UsageErrorCode } from "../../lib/cli/options.ts";

const PASSWORDS = { TCPOSCROUTER_USER_PASSWORD: "userPw", TCPOSCROUTER_GROUP_PASSWORD: "groupPw" };
const BRIDGE = ["bridge", "--server", "127.0.0.1:9", "--user", "u", "--group", "g"];

function refusal(args: string[], env: Record<string, string> = {}): UsageError {
  try {
    parseCommandLine(args, env, "0.0.0");
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  assert.fail(`${args.join(" ")} was accepted`);
}

Deno.test("options: combinations single options cannot check are usage errors that say what to do", () => {
  const cases: [string[], Record<string, string>, UsageErrorCode, RegExp][] = [
    [["--disable-osc10", "--disable-osc11"], {}, "conflicting_options", /both ports are disabled.*keep at least one/],
    [["--disable-osc10"], { TCPOSCROUTER_DISABLE_OSC11: "yes" }, "conflicting_options", /both ports are disabled/],
    [
      ["--osc-port", "6000", "--osc11-port", "6000"],
      {},
      "conflicting_options",
      /--osc-port and --osc11-port are both 6000; give them different ports/,
    ],
    [["--http-port", "55556"], {}, "conflicting_options", /--osc11-port and --http-port are both 55556/],
    [["--closed"], {}, "conflicting_options", /give --groups FILE too/],
    [
      ["--max-packet-bytes", "4096", "--max-queue-bytes", "4096"],
      {},
      "conflicting_options",
      /must hold at least two packets .* \(8208 or more\)/,
    ],
    [
      ["--http-port", "8080", "--http-token-file", "/t"],
      { TCPOSCROUTER_HTTP_TOKEN: "x" },
      "conflicting_options",
      /token once/,
    ],
    [
      ["--http-port", "8080"],
      { TCPOSCROUTER_HTTP_TOKEN: "  " },
      "invalid_value",
      /TCPOSCROUTER_HTTP_TOKEN is empty; set a token or unset/,
    ],
    [
      BRIDGE,
      {},
      "missing_secret",
      /set TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD, or give --password-file/,
    ],
    [BRIDGE, { TCPOSCROUTER_USER_PASSWORD: "only one" }, "missing_secret", /TCPOSCROUTER_GROUP_PASSWORD/],
  ];
  for (const [args, env, code, message] of cases) {
    const error = refusal(args, env);
    assert.equal(error.code, code, args.join(" "));
    assert.match(error.message, message);
  }
  // Neither combination is refused when one side is off or the other is large enough.
  assert.equal(parseCommandLine(["--disable-osc10", "--osc11-port", "55555"], {}, "0.0.0").kind, "run");
  assert.equal(parseCommandLine(["--max-packet-bytes", "4096", "--max-queue-bytes", "8208"], {}, "0.0.0").kind, "run");
});

Deno.test("options: commander's refusals come back typed, with the help hint", () => {
  const cases: [string[], UsageErrorCode, RegExp][] = [
    [["--bogus"], "unknown_option", /^unknown option '--bogus'\n\(run tcposcrouter --help for every option\)$/],
    [["--osc-prot", "6000"], "unknown_option", /Did you mean --osc-port\?/],
    [["--osc-port"], "missing_value", /option '--osc-port <port>' argument missing/],
    [["extra"], "excess_arguments", /too many arguments/],
    [["hash-password", "extra"], "excess_arguments", /too many arguments for 'hash-password'/],
    // A subcommand's hint points at its own help: the router's does not list the bridge's flags.
    [["bridge", "--bogus"], "unknown_option", /\n\(run tcposcrouter bridge --help for every option of bridge\)$/],
    [["hash-password", "--bogus"], "unknown_option", /\(run tcposcrouter hash-password --help for every option/],
    [
      ["bridge", "--user", "u", "--group", "g"],
      "missing_option",
      /missing --server <host:port>: give the flag or set TCPOSCROUTER_BRIDGE_SERVER/,
    ],
    [
      ["--log-level", "debug", ...BRIDGE],
      "misplaced_option",
      /--log-level before 'bridge' is an option of the router.*after 'bridge'/,
    ],
  ];
  for (const [args, code, message] of cases) {
    const error = refusal(args, PASSWORDS);
    assert.equal(error.code, code, args.join(" "));
    assert.match(error.message, message);
    assert.doesNotMatch(error.message, /^error:/);
  }
});

Deno.test("options: --help and --version are texts to print, for the router and each subcommand", () => {
  const version = parseCommandLine(["--version"], {}, "9.8.7");
  assert.deepEqual(version, { kind: "print", text: "9.8.7\n" });
  // `deno task start -- --version` passes the "--" on.
  assert.deepEqual(parseCommandLine(["--", "-V"], {}, "9.8.7"), version);
  for (
    const [args, usage] of [[["--help"], "tcposcrouter [options] [command]"], [
      ["bridge", "-h"],
      "tcposcrouter bridge [options]",
    ], [["hash-password", "--help"], "tcposcrouter hash-password [options]"]] as const
  ) {
    const help = parseCommandLine(args, {}, "0.0.0");
    assert.ok(help.kind === "print", args.join(" "));
    assert.ok(help.text.startsWith(`Usage: ${usage}\n`), help.text);
  }
});

Deno.test("options: help wraps at the width given, 80 columns by default", () => {
  const options = (width?: number) => {
    const help = parseCommandLine(["bridge", "--help"], {}, "0.0.0", { helpWidth: width });
    assert.ok(help.kind === "print");
    return help.text.split("\nOptions:\n")[1]!.split("\n\n")[0]!.split("\n");
  };
  assert.deepEqual(options(), options(80));
  assert.ok(options().every((line) => line.length <= 80));
  assert.ok(options().some((line) => line.length > 70), "the width is used, not a narrower one");
  assert.ok(options(200).some((line) => line.length > 80));
});

Deno.test("options: commander finds each command; the settings are those of the command found", () => {
  assert.deepEqual(parseCommandLine(["hash-password", "--user", "ana"], {}, "0.0.0"), {
    kind: "hash-password",
    config: { user: "ana" },
  });
  const bridge = parseCommandLine([...BRIDGE, "--log-level", "debug"], PASSWORDS, "0.0.0");
  assert.ok(bridge.kind === "bridge");
  assert.equal(bridge.config.log.level, "debug", "the bridge's own --log-level, after its name");
  assert.deepEqual(bridge.config.passwords, { userPassword: "userPw", groupPassword: "groupPw" });
  // A password file wins over the variables, which are then not needed.
  const withFile = parseCommandLine([...BRIDGE, "--password-file", "/p"], {}, "0.0.0");
  assert.ok(withFile.kind === "bridge");
  assert.deepEqual(withFile.config.passwords, { file: "/p" });
  // "bridge" as the argument of an option is not the subcommand.
  const router = parseCommandLine(["--groups", "bridge"], {}, "0.0.0");
  assert.ok(router.kind === "run");
  assert.equal(router.config.access.groupsFile, "bridge");
});

Deno.test("options: a bad value's error names the flag or the variable, and says what the value must be", () => {
  const fromFlag = refusal(["--register-timeout", "3000ms"]);
  assert.ok(fromFlag instanceof InvalidOptionValueError);
  assert.equal(fromFlag.message, "--register-timeout must be an integer from 1 to 86400 seconds, got '3000ms'");
  const fromVariable = refusal([], { TCPOSCROUTER_LOG_FORMAT: "xml" });
  assert.ok(fromVariable instanceof InvalidOptionValueError);
  assert.equal(
    fromVariable.message,
    "TCPOSCROUTER_LOG_FORMAT (--log-format) must be one of text, json, got 'xml'; correct the variable or unset it",
  );
});

Deno.test("options: the whole settings when no option is given", () => {
  assert.deepEqual(parseCommandLine([], {}, "0.0.0"), {
    kind: "run",
    config: {
      server: {
        hostname: "::",
        lengthPrefixPort: 55555,
        slipPort: 55556,
        maxPacketBytes: 1048576,
        maxQueueBytes: 4194304,
        maxConnections: 256,
        registerTimeoutMs: 60_000,
        strictFraming: false,
        maxMemoryBytes: 268435456,
        writeTimeoutMs: 10_000,
        maxConnectionsPerAddress: 32,
        maxUnregisteredPerAddress: 8,
        pingTimeoutMs: 15_000,
      },
      http: undefined,
      log: { level: "info", format: "text", dir: undefined, maxFileBytes: 10485760, maxFiles: 5 },
      access: { groupsFile: undefined, closed: false, registersPerSecond: 10 },
      cluster: undefined,
    },
  });
  assert.deepEqual(parseCommandLine(BRIDGE, PASSWORDS, "0.0.0"), {
    kind: "bridge",
    config: {
      bridge: {
        server: { hostname: "127.0.0.1", port: 9 },
        framing: "length-prefix",
        user: "u",
        group: "g",
        listenUdp: { hostname: "127.0.0.1", port: 57130 },
        sendUdp: { hostname: "127.0.0.1", port: 57120 },
        maxQueueBytes: 1048576,
        initialBackoffMs: 500,
        maxBackoffMs: 30_000,
      },
      passwords: { userPassword: "userPw", groupPassword: "groupPw" },
      log: { level: "info", format: "text", dir: undefined, maxFileBytes: 10485760, maxFiles: 5 },
    },
  });
  assert.deepEqual(parseCommandLine(["hash-password"], {}, "0.0.0"), {
    kind: "hash-password",
    config: { user: undefined },
  });
});

Deno.test("options: TCPOSCROUTER_OSC11_PORT sets the OSC 1.1 port and no other; --register-timeout 3 is 3000 ms", () => {
  const defaults = parseCommandLine([], {}, "0.0.0");
  const osc11 = parseCommandLine([], { TCPOSCROUTER_OSC11_PORT: "6001" }, "0.0.0");
  assert.ok(defaults.kind === "run" && osc11.kind === "run");
  assert.deepEqual(osc11.config, { ...defaults.config, server: { ...defaults.config.server, slipPort: 6001 } });
  const timeout = parseCommandLine(["--register-timeout", "3"], {}, "0.0.0");
  assert.ok(timeout.kind === "run");
  assert.deepEqual(timeout.config, {
    ...defaults.config,
    server: { ...defaults.config.server, registerTimeoutMs: 3000 },
  });
});
