/**
 * A small tcposcrouter client for Deno: connect, register, send, receive, user list, errors. It
 * uses the client module the router's own bridge is built on (`lib/client/router_client.ts`):
 *
 * ```ts
 * import { RouterClient } from "./lib/client/router_client.ts";
 * const client = await RouterClient.connect({ hostname: "127.0.0.1", port: 55555 });
 * client.onMessage = (m) => console.log("from the group:", m.address, m.args);
 * client.onError = (e) => console.warn(`router error ${e.code}: ${e.message}`);
 * const users = await client.register({ user: "ana", password: "anaSecret", group: "band", groupPassword: "bandSecret" });
 * await client.send("/note", { type: "i", value: 60 }, { type: "f", value: 0.5 });
 * await client.sendPrivate("bob", "whispa", { type: "s", value: "hi" });
 * client.close();
 * ```
 *
 * Run it as a script to join a group, say hello, print what arrives and send each line you type
 * as `/chat` (Ctrl-D leaves). Arguments: HOST PORT USER GROUP (defaults: 127.0.0.1 55555 carol
 * band); the passwords come from the environment, never from the command line:
 *
 * ```sh
 * TCPOSCROUTER_USER_PASSWORD=carolSecret TCPOSCROUTER_GROUP_PASSWORD=bandSecret deno run --allow-net --allow-env examples/client.ts 127.0.0.1 55555 carol band
 * ```
 *
 * The SuperCollider example joins as `ana` and the Pure Data one as `bob`, all in `band` with
 * the group password `bandSecret`: run any two and they talk to each other.
 *
 * @module
 */

import { RegisterError, RouterClient } from "../lib/client/router_client.ts";
import type { OscArg } from "../lib/osc/types.ts";
import { errorMessage } from "../lib/util/error_text.ts";
import { escapeLogText } from "../lib/cli/log_escape.ts";

/**
 * An argument as text for the terminal: what others send may hold control characters (ESC starts
 * sequences that clear the screen or set the clipboard, a newline forges a line), shown escaped.
 */
function show(arg: OscArg | string): string {
  return escapeLogText(typeof arg === "string" ? arg : "value" in arg ? String(arg.value) : arg.type);
}

/** The script: plain messages and exit codes (2 usage, 1 refused or unreachable), never a stack trace. */
async function script(args: string[]): Promise<number> {
  const [hostname = "127.0.0.1", portText = "55555", user = "carol", group = "band"] = args;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`error: '${portText}' is not a port; usage: examples/client.ts HOST PORT USER GROUP`);
    return 2;
  }
  let password: string | undefined, groupPassword: string | undefined;
  try {
    password = Deno.env.get("TCPOSCROUTER_USER_PASSWORD");
    groupPassword = Deno.env.get("TCPOSCROUTER_GROUP_PASSWORD");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    console.error(
      "error: the passwords come from the environment: run with --allow-env (deno run --allow-net --allow-env examples/client.ts ...)",
    );
    return 2;
  }
  if (password === undefined || groupPassword === undefined) {
    console.error(
      "error: set TCPOSCROUTER_USER_PASSWORD and TCPOSCROUTER_GROUP_PASSWORD (your password and the group's)",
    );
    return 2;
  }
  let client: RouterClient;
  try {
    client = await RouterClient.connect({ hostname, port });
  } catch (error) {
    const why = errorMessage(error).replace(/\s*\(os error \d+\)/, "");
    console.error(`error: cannot connect to ${hostname}:${port}: ${why}; is the router running there?`);
    return 1;
  }
  client.onMessage = (p) => {
    if (!("address" in p)) console.log("a bundle");
    else if (p.address === "/oscrouter/private") {
      const [from, ...rest] = p.args.map(show);
      console.log(`private from ${from}: ${rest.join(" ")}`);
    } else console.log(`${show(p.address)} ${p.args.map(show).join(" ")}`);
  };
  let users: string[];
  try {
    users = await client.register({ user, password, group, groupPassword });
  } catch (error) {
    if (!(error instanceof RegisterError)) throw error;
    console.error(`error: the router refused ${user}@${group}: ${error.message}`);
    client.close();
    await client.closed;
    return 1;
  }
  client.onError = (e) => console.error(`router error ${show(e.code)}: ${show(e.message)}`);
  console.log(`joined ${group} as ${user}; users: ${users.join(", ")}`);
  await client.send("/chat", { type: "s", value: `hello from ${user}` });
  // Each line typed goes to the group as /chat; the end of input (Ctrl-D) leaves.
  const typing = (async () => {
    let pending = "";
    for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) await client.send("/chat", { type: "s", value: line.trim() });
    }
  })();
  const ended = await Promise.race([typing.then(() => "typing"), client.closed.then(() => "closed")]);
  client.close();
  await client.closed;
  if (ended === "closed") {
    console.error("error: the router closed the connection");
    return 1;
  }
  console.log(`left ${group}`);
  return 0;
}

// Deno.exit, not exitCode: a read of the terminal may still be pending.
if (import.meta.main) Deno.exit(await script(Deno.args));
