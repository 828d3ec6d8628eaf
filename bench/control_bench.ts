/**
 * What a router control message costs, whatever it holds, next to what forwarding the same
 * bytes costs (issue 10: a 1 MiB `/oscrouter/ping` of type tags used to take 0.27-0.68 s).
 * Run: deno bench --frozen bench/control_bench.ts
 */
import type { OutgoingPacket } from "../lib/framing/outgoing.ts";
import { encodeMessage } from "../lib/osc/codec.ts";
import { Router } from "../lib/router/router.ts";
import type { Session } from "../lib/router/session.ts";
import { bigBundle, bigMessage } from "./packets.ts";

const MIB = 1024 * 1024;
const session = (name: string): Session => ({
  framing: "length-prefix",
  peer: name,
  address: name,
  send: (_p: OutgoingPacket) => {},
  close: () => {},
});
const router = new Router();
const [ana, bob] = [session("ana"), session("bob")];
for (const [s, user] of [[ana, "ana"], [bob, "bob"]] as const) {
  router.receive(
    s,
    encodeMessage({
      address: "/oscrouter/register",
      args: [user, "pw", "band", "gpw"].map((value) => ({ type: "s" as const, value })),
    }),
  );
}

const cases: [string, Uint8Array, Uint8Array][] = [
  ["1 MiB message of type tags", bigMessage("/oscrouter/ping", "", "T", MIB), bigMessage("/note", "", "T", MIB)],
  ["1 MiB bundle of pings", bigBundle("/oscrouter/ping", MIB), bigBundle("/note", MIB)],
  ["1 MiB bundle of reserved addresses", bigBundle("/oscrouter/nope", MIB), bigBundle("/note", MIB)],
  ["1 MiB private message", bigMessage("/oscrouter/private", "ss", "i", MIB), bigMessage("/note", "ss", "i", MIB)],
];
for (const [name, control, plain] of cases) {
  Deno.bench(`forward: ${name}`, { group: name, baseline: true }, () => {
    router.receive(ana, plain);
  });
  Deno.bench(`control: ${name}`, { group: name }, () => {
    router.receive(ana, control);
  });
}
