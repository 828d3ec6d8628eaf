/**
 * The well-behaved pair, in a process of its own so the attackers' work never delays its clock: two users of group
 * `quiet`, connected from their own loopback address; one sends `/probe seq time` at a steady rate, the other
 * receives, and each message's latency is recorded.
 *
 * usage: deno run --allow-net probe.ts PORT LOCAL_ADDRESS RATE_PER_S
 * Prints `ready` once both are registered; sends until stdin closes or a line arrives on it, then waits up to 1 s
 * for the last messages and prints one JSON line: sent, received, p50Ms, p99Ms, maxMs, error.
 */
import { encodeMessage } from "../../lib/osc/codec.ts";
import { frame, OscSocket } from "./net.ts";

const [portText, localAddress = "127.0.0.2", rateText = "20"] = Deno.args;
const port = Number(portText);
const intervalMs = 1000 / Number(rateText);
const latencies: number[] = [];
let sent = 0;
let finishing = false;
let error: string | undefined;
const out = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

const sender = await OscSocket.connect(port, localAddress);
const receiver = await OscSocket.connect(port, localAddress);
if (!(await receiver.register("listener", "quiet")) || !(await sender.register("player", "quiet"))) {
  out(JSON.stringify({ error: "the pair could not register" }));
  Deno.exit(1);
}
// Skip the user-list update the listener got when the player joined.
while (await receiver.next(200) !== undefined);

const receiving = (async () => {
  for (;;) {
    const packet = await receiver.next(60_000);
    if (packet === undefined) {
      if (receiver.closed && !finishing) error ??= "the router closed the listener's connection";
      return;
    }
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    // "/probe\0\0" ",id\0" int32 float64
    if (packet.length === 24 && packet[1] === 0x70) latencies.push(performance.now() - view.getFloat64(16));
  }
})();

out("ready");
let stop = false;
(async () => {
  for await (const _ of Deno.stdin.readable) break;
  stop = true;
})();
const start = performance.now();
while (!stop) {
  const packet = encodeMessage({
    address: "/probe",
    args: [{ type: "i", value: sent }, { type: "d", value: performance.now() }],
  });
  // Not awaited: a router that stops reading must show as latency (or loss), not stop the clock.
  if (sender.closed || sender.socket.destroyed) {
    error ??= "the router closed the player's connection";
    break;
  }
  sender.socket.write(frame(packet));
  sent++;
  const next = start + sent * intervalMs;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
}
const deadline = Date.now() + 1000;
while (latencies.length < sent && Date.now() < deadline && !receiver.closed) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
finishing = true;
await sender.close();
await receiver.close();
await receiving;
const sorted = latencies.slice().sort((a, b) => a - b);
const pick = (q: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
out(JSON.stringify({
  sent,
  received: latencies.length,
  p50Ms: pick(0.5),
  p99Ms: pick(0.99),
  maxMs: sorted.length ? sorted[sorted.length - 1] : NaN,
  error,
}));
Deno.exit(0);
