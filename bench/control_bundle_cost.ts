// Bench: router CPU per packet for the two attack shapes of issue 10, beside forwarding of the same size.
// Run: deno run -A bench/control_bundle_cost.ts
import { encodeBundle, encodeMessage } from "../lib/osc/codec.ts";
import { Router } from "../lib/router/router.ts";
import { FakeSession, register, s } from "../tests/router/fake_session.ts";

const router = new Router();
const me = new FakeSession("me");
router.receive(me, register("me", "solo"));
const members = Array.from({ length: 30 }, (_, i) => new FakeSession(`m${i}`));
for (const [i, m] of members.entries()) router.receive(m, register(`u${i}`, "big"));
const privates = encodeBundle({
  timetag: 1n,
  elements: Array.from({ length: 26_200 }, () => ({ address: "/oscrouter/private", args: [s("me"), s("/x")] })),
});
const pings = encodeBundle({
  timetag: 1n,
  elements: [
    { address: "/oscrouter/ping", args: [] },
    ...Array.from({ length: 80_000 }, () => ({ address: "/a", args: [] })),
  ],
});
const plainBundle = encodeBundle({
  timetag: 1n,
  elements: Array.from({ length: 80_001 }, () => ({ address: "/a", args: [] })),
});
const plain = encodeMessage({ address: "/b", args: [{ type: "b", value: new Uint8Array(1 << 20) }] });
const privates256 = encodeBundle({
  timetag: 1n,
  elements: Array.from({ length: 256 }, () => ({ address: "/oscrouter/private", args: [s("me"), s("/x")] })),
});
const pings256 = encodeBundle({
  timetag: 1n,
  elements: [
    { address: "/oscrouter/ping", args: [] },
    ...Array.from({ length: 255 }, () => ({ address: "/a", args: [] })),
  ],
});
function time(what: string, session: FakeSession, packet: Uint8Array) {
  const ms: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    router.receive(session, packet);
    ms.push(performance.now() - t);
    for (const x of [me, ...members]) x.received.length = 0;
  }
  ms.sort((a, b) => a - b);
  console.log(`${what} (${packet.length} B): median ${ms[5]!.toFixed(2)} ms, max ${ms[9]!.toFixed(2)} ms`);
}
time("26,200 privates to self", me, privates);
time("ping + 80,000 /a, 30 members", members[0]!, pings);
time("80,001 /a (no control), 30 members", members[0]!, plainBundle);
time("plain 1 MiB blob, 30 members", members[0]!, plain);
time("256 privates to self", me, privates256);
time("ping + 255 /a, 30 members", members[0]!, pings256);
