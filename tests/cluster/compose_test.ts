/** examples/deploy/compose.yaml (Docker cannot run here): valid YAML whose commands the router and NATS accept. */
import assert from "node:assert/strict";
import { parse } from "npm:yaml@^2.9.1";
import { parseCommandLine } from "../../lib/cli/options.ts";

const DEPLOY = new URL("../../examples/deploy/", import.meta.url).pathname;

interface Service {
  command?: string[];
  depends_on?: string[];
  ports?: string[];
  volumes?: string[];
  build?: { context: string; dockerfile: string };
}

Deno.test("compose.yaml: the routers' flags parse, name every NATS node, and keep three copies of the state", async () => {
  const compose = parse(await Deno.readTextFile(`${DEPLOY}compose.yaml`)) as { services: Record<string, Service> };
  const services = compose.services;
  const nats = Object.keys(services).filter((name) => name.startsWith("nats"));
  assert.equal(nats.length, 3);
  const router = services["router"]!;
  const result = parseCommandLine(router.command!, {}, "0");
  assert.ok(result.kind === "run");
  assert.deepEqual(result.config.cluster?.servers, nats.map((name) => `nats://${name}:4222`));
  assert.equal(result.config.cluster?.replicas, nats.length);
  assert.ok(result.config.http !== undefined, "each instance has its status page");
  assert.ok(!router.command!.some((arg) => /password|token/i.test(arg)), "no secret on a command line");
  // The image's entrypoint ends with main.ts, so the command's flags go to the router.
  const dockerfile = await Deno.readTextFile(`${DEPLOY}${router.build!.dockerfile.replace("examples/deploy/", "")}`);
  assert.match(dockerfile, /ENTRYPOINT \[.*"main\.ts"\]/);
  // Each NATS node runs JetStream, is named, and routes to the two others.
  for (const name of nats) {
    const command = services[name]!.command!;
    assert.ok(command.includes("-js"));
    assert.equal(command[command.indexOf("--server_name") + 1], name);
    const routes = command[command.indexOf("--routes") + 1]!.split(",");
    assert.deepEqual(routes.sort(), nats.filter((n) => n !== name).map((n) => `nats://${n}:6222`));
    assert.deepEqual(services[name]!.volumes, [`${name}:/data`]);
  }
  // The balancer publishes the two OSC ports and sends them to the router service.
  assert.deepEqual(services["balancer"]!.ports, ["55555:55555", "55556:55556"]);
  const haproxy = await Deno.readTextFile(`${DEPLOY}haproxy.cfg`);
  for (const port of [55555, 55556]) {
    assert.match(haproxy, new RegExp(`bind :${port}\\n`));
    assert.match(haproxy, new RegExp(`server-template router \\d+ router:${port} check`));
  }
  assert.ok(services["balancer"]!.volumes![0]!.startsWith("./haproxy.cfg:"));
});

Deno.test("README: the cluster set-ups' commands parse", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(
    readme.indexOf("## Several routers as one"),
    readme.indexOf("## Running on a Raspberry Pi"),
  );
  const commands = [...section.replaceAll("\\\n", " ").matchAll(/^tcposcrouter (--cluster[^\n]*)/gm)]
    .map((m) => m[1]!.replace(/#.*$/, "").trim().split(/\s+/));
  assert.ok(commands.length >= 3, `found ${commands.length} commands`);
  for (const args of commands) {
    assert.equal(parseCommandLine(args, {}, "0").kind, "run", args.join(" "));
  }
});
