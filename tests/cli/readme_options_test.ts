/** README.md's option tables list every flag and variable the help shows, and nothing else. */
import assert from "node:assert/strict";
import { parseCommandLine } from "../../lib/cli/options.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The flags and variables `--help` shows. */
function fromHelp(args: string[]): { flags: Set<string>; variables: Set<string> } {
  const help = parseCommandLine(args, {}, "0.0.0");
  assert.ok(help.kind === "print", args.join(" "));
  const text = help.text;
  const flags = new Set([...text.matchAll(/^\s+(?:-\w, )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!));
  const variables = new Set([...text.matchAll(/env:\s+(TCPOSCROUTER_\w+)/g)].map((m) => m[1]!));
  return { flags, variables };
}

Deno.test("README: the option tables list every flag and variable of the router and the bridge", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const rows = readme.split("\n").filter((l) => l.startsWith("| ")).map((l) => l.split("|").map((c) => c.trim()));
  const readmeFlags = new Set(
    rows.flatMap((r) => [...(r[1] ?? "").matchAll(/--[a-z0-9][a-z0-9-]*/g)].map((m) => m[0])),
  );
  const readmeVariables = new Set(
    rows.flatMap((r) => [...(r[2] ?? "").matchAll(/TCPOSCROUTER_\w+/g)].map((m) => m[0])),
  );
  const router = fromHelp(["--help"]), bridge = fromHelp(["bridge", "--help"]);
  const flags = new Set([...router.flags, ...bridge.flags]);
  // Secrets come from these variables, which have no flag by design: the bridge's passwords
  // and the status page token (other users of the machine can read process arguments).
  const variables = new Set([
    ...router.variables,
    ...bridge.variables,
    "TCPOSCROUTER_USER_PASSWORD",
    "TCPOSCROUTER_GROUP_PASSWORD",
    "TCPOSCROUTER_HTTP_TOKEN",
    "TCPOSCROUTER_CLUSTER_USER",
    "TCPOSCROUTER_CLUSTER_PASSWORD",
    "TCPOSCROUTER_CLUSTER_TOKEN",
  ]);
  assert.deepEqual([...flags].filter((f) => !readmeFlags.has(f)), [], "flags missing from README.md");
  assert.deepEqual([...variables].filter((v) => !readmeVariables.has(v)), [], "variables missing from README.md");
  assert.deepEqual([...readmeFlags].filter((f) => !flags.has(f)), [], "README.md lists flags that do not exist");
  assert.deepEqual(
    [...readmeVariables].filter((v) => !variables.has(v)),
    [],
    "README.md lists variables that do not exist",
  );
});
