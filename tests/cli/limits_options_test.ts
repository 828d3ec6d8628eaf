/** The flags of the hostile-input limits: defaults, values, environment variables, bad values. */
import assert from "node:assert/strict";
import { parseCommandLine } from "../../lib/cli/options.ts";
import { DEFAULT_SERVER_OPTIONS } from "../../lib/server/server.ts";

function parse(args: string[], env: Record<string, string> = {}) {
  let err = "";
  const result = parseCommandLine(args, { ...env }, "0.0.0", { out: () => {}, err: (s) => err += s });
  return { result, err };
}

Deno.test("limits flags: defaults, flags and TCPOSCROUTER_* variables", () => {
  const defaults = parse([]).result;
  assert.equal(defaults.kind, "run");
  if (defaults.kind !== "run") return;
  const d = defaults.config.server;
  assert.equal(d.writeTimeoutMs, 10_000);
  assert.equal(d.maxConnectionsPerAddress, 32);
  assert.equal(d.maxUnregisteredPerAddress, 8);
  assert.equal(d.pingTimeoutMs, 15_000);
  assert.equal(d.maxMemoryBytes, 256 * 1024 * 1024);
  assert.deepEqual(
    [d.writeTimeoutMs, d.maxConnectionsPerAddress, d.maxUnregisteredPerAddress, d.pingTimeoutMs],
    [
      DEFAULT_SERVER_OPTIONS.writeTimeoutMs,
      DEFAULT_SERVER_OPTIONS.maxConnectionsPerAddress,
      DEFAULT_SERVER_OPTIONS.maxUnregisteredPerAddress,
      DEFAULT_SERVER_OPTIONS.pingTimeoutMs,
    ],
  );
  const set = parse([
    "--write-timeout",
    "3",
    "--max-connections-per-address",
    "100",
    "--max-unregistered-per-address",
    "20",
    "--ping-timeout",
    "0",
  ]).result;
  assert.ok(set.kind === "run");
  assert.equal(set.config.server.writeTimeoutMs, 3000);
  assert.equal(set.config.server.maxConnectionsPerAddress, 100);
  assert.equal(set.config.server.maxUnregisteredPerAddress, 20);
  assert.equal(set.config.server.pingTimeoutMs, 0, "0 turns the ping timeout off");
  // commander reads the process's environment.
  const variables = {
    TCPOSCROUTER_WRITE_TIMEOUT: "7",
    TCPOSCROUTER_MAX_CONNECTIONS_PER_ADDRESS: "5",
    TCPOSCROUTER_MAX_UNREGISTERED_PER_ADDRESS: "2",
    TCPOSCROUTER_PING_TIMEOUT: "30",
  };
  for (const [name, value] of Object.entries(variables)) Deno.env.set(name, value);
  let env;
  try {
    env = parse([], variables).result;
  } finally {
    for (const name of Object.keys(variables)) Deno.env.delete(name);
  }
  assert.ok(env.kind === "run");
  assert.equal(env.config.server.writeTimeoutMs, 7000);
  assert.equal(env.config.server.maxConnectionsPerAddress, 5);
  assert.equal(env.config.server.maxUnregisteredPerAddress, 2);
  assert.equal(env.config.server.pingTimeoutMs, 30_000);
});

Deno.test("limits flags: bad values are usage errors that name the range", () => {
  for (
    const [args, message] of [
      [["--write-timeout", "0"], /--write-timeout.*from 1 to 86400 seconds/],
      [["--max-connections-per-address", "0"], /from 1 to 1000000/],
      [["--max-unregistered-per-address", "x"], /must be an integer/],
      [["--ping-timeout", "-1"], /from 0 to 86400 seconds/],
    ] as const
  ) {
    const { result, err } = parse([...args]);
    assert.deepEqual(result, { kind: "exit", code: 2 }, args.join(" "));
    assert.match(err, message);
  }
});
