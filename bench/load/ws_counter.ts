/**
 * A WebSocket receiver in its own process, for `bench/load.ts`'s `fanout-lp+wsproc`: it joins a
 * group, counts the load packets it gets (and those out of order), and prints the counts as one
 * JSON line when its standard input closes. In its own process it takes no CPU from the load
 * generator, so the TCP figures show what the router pays for the browser, not what the generator does.
 *
 * usage: deno run --allow-net bench/load/ws_counter.ts <http-port> <group>
 */
import { encodeMessage } from "../../lib/osc/codec.ts";

const [port, group] = Deno.args;
const socket = new WebSocket(`ws://127.0.0.1:${port}/osc`);
socket.binaryType = "arraybuffer";
let delivered = 0;
let reordered = 0;
let next = 0;
let registered = false;
const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
socket.onmessage = (e) => {
  const p = new Uint8Array(e.data as ArrayBuffer);
  if (p.length === 32 && p[1] === 0x6c) {
    const seq = new DataView(p.buffer).getInt32(20);
    if (seq !== next) reordered++;
    next = seq + 1;
    delivered++;
  } else if (!registered && p[11] === 0x72) { // "/oscrouter/r"egister/...
    registered = true;
    console.log(JSON.stringify({ ready: true }));
  }
};
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = reject;
});
const s = (value: string) => ({ type: "s" as const, value });
socket.send(encodeMessage({ address: "/oscrouter/register", args: [s("wsproc"), s("pw"), s(group!), s("gpw")] }));
// Counts until standard input closes.
for await (const _ of Deno.stdin.readable) { /* nothing is sent on stdin */ }
const cutOff = socket.readyState === WebSocket.CLOSED;
socket.close();
await closed;
console.log(JSON.stringify({ delivered, reordered, cutOff }));
