/**
 * The attackers, in a process of their own (run at the lowest CPU priority by the suite: on the internet the
 * attacker's CPU is not the router's), so the router and the pair get the CPU first and the figures measure the
 * router, not the contest between it and the test.
 *
 * usage: deno run --allow-net attacker.ts OSC_PORT SLIP_PORT HTTP_PORT NAME[,NAME...]
 * Starts the named attacks (names from attacks.ts), prints `started`, runs until stdin closes, then stops them and
 * prints one JSON line: { name: what it sent }.
 */
import { ATTACKS } from "./attacks.ts";

const [osc, slip, http, names = ""] = Deno.args;
const wanted = names.split(",").map(decodeURIComponent);
const attacks = ATTACKS.filter((attack) => wanted.includes(attack.name));
if (attacks.length !== wanted.length) {
  console.error(`unknown attack in ${names}; known: ${ATTACKS.map((a) => a.name).join(", ")}`);
  Deno.exit(2);
}
const target = { oscPort: Number(osc), slipPort: Number(slip), httpPort: Number(http) };
const running = attacks.map((attack) => attack.start(target));
const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
out("started");
for await (const _ of Deno.stdin.readable) break;
const pending = new Set(attacks.map((a) => a.name));
const watchdog = setTimeout(
  () => console.error(`attacks still stopping after 15 s: ${[...pending].join(", ")}`),
  15_000,
);
const volumes = await Promise.all(running.map(async (r, i) => {
  const volume = await r.stop();
  pending.delete(attacks[i]!.name);
  return volume;
}));
clearTimeout(watchdog);
out(JSON.stringify(Object.fromEntries(attacks.map((attack, i) => [attack.name, volumes[i]]))));
Deno.exit(0);
