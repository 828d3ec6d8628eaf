/**
 * The router's own cost per packet, without sockets: Router.receive with sessions that only
 * count. Compare with the load benchmark to see what the I/O costs.
 */
import type { OutgoingPacket } from "../lib/framing/outgoing.ts";
import { encodeBundle, encodeMessage } from "../lib/osc/codec.ts";
import { Router } from "../lib/router/router.ts";
import type { Session } from "../lib/router/session.ts";
import { SMALL } from "./packets.ts";

let delivered = 0;
const session = (name: string): Session => ({
  framing: "length-prefix",
  peer: name,
  address: name,
  send: (_p: OutgoingPacket) => void delivered++,
  close: () => {},
});

function group(users: number): { router: Router; sessions: Session[] } {
  const router = new Router();
  const sessions = Array.from({ length: users }, (_, i) => session(`u${i}`));
  for (const [i, s] of sessions.entries()) {
    router.receive(
      s,
      encodeMessage({
        address: "/oscrouter/register",
        args: [`u${i}`, "pw", "band", "gpw"].map((value) => ({ type: "s" as const, value })),
      }),
    );
  }
  return { router, sessions };
}

const packet = encodeMessage(SMALL);
const bundle = encodeBundle({ timetag: 1n, elements: [SMALL, SMALL] });
const private_ = encodeMessage({
  address: "/oscrouter/private",
  args: [{ type: "s", value: "u1" }, { type: "s", value: "whispa" }, { type: "i", value: 1 }],
});
for (const fanout of [1, 10, 39]) {
  const { router, sessions } = group(fanout + 1);
  Deno.bench(`receive + broadcast 32 B to ${fanout}`, { group: "router" }, () => {
    router.receive(sessions[0]!, packet);
  });
}
const ten = group(11);
Deno.bench("receive + broadcast a bundle to 10", { group: "router" }, () => {
  ten.router.receive(ten.sessions[0]!, bundle);
});
Deno.bench("private message (decode + rewrite) to 1", { group: "router" }, () => {
  ten.router.receive(ten.sessions[0]!, private_);
});
