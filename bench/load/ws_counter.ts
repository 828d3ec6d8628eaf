/**
 * A WebSocket receiver in its own process, for `bench/load.ts`'s `fanout-lp+wsproc`: it joins a
 * group, counts the load packets it gets (and those out of order), and prints the counts as one
 * JSON line when its standard input closes. In its own process it takes no CPU from the load
 * generator, so the TCP figures show what the router pays for the browser, not what the generator does.
 *
 * With `raw` (the default) it speaks WebSocket itself over a TCP socket and walks the frames of
 * each 256 KiB read, as a native client would: a Deno `WebSocket` (`deno`) costs several
 * microseconds per message in the client, which on two cores takes CPU from the router and the
 * generator and is then measured as the router's cost.
 *
 * usage: deno run --allow-net bench/load/ws_counter.ts <http-port> <group> [raw|deno]
 */
import { encodeMessage } from "../../lib/osc/codec.ts";

const [port, group, kind = "raw"] = Deno.args;
const s = (value: string) => ({ type: "s" as const, value });
const register = encodeMessage({
  address: "/oscrouter/register",
  args: [s("wsproc"), s("pw"), s(group!), s("gpw")],
});
let delivered = 0;
let reordered = 0;
let next = 0;
let registered = false;

function packet(p: Uint8Array): void {
  if (p.length === 32 && p[1] === 0x6c) {
    const seq = (p[20]! << 24) | (p[21]! << 16) | (p[22]! << 8) | p[23]!;
    if (seq !== next) reordered++;
    next = seq + 1;
    delivered++;
  } else if (!registered && p[11] === 0x72) { // "/oscrouter/r"egister/...
    registered = true;
    console.log(JSON.stringify({ ready: true }));
  }
}

const stdinClosed = (async () => {
  for await (const _ of Deno.stdin.readable) { /* nothing is sent on stdin */ }
})();

if (kind === "deno") {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/osc`);
  socket.binaryType = "arraybuffer";
  const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
  socket.onmessage = (e) => packet(new Uint8Array(e.data as ArrayBuffer));
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  socket.send(register);
  await stdinClosed;
  const cutOff = socket.readyState === WebSocket.CLOSED;
  socket.close();
  await closed;
  console.log(JSON.stringify({ client: kind, delivered, reordered, cutOff }));
} else {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(new TextEncoder().encode(
    `GET /osc HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  // A client frame is masked; a zero mask leaves the payload as it is.
  const header = register.length < 126 ? [0x82, 0x80 | register.length] : [0x82, 0x80 | 126, 0, register.length];
  let cutOff = false;
  const reading = (async () => {
    const buffer = new Uint8Array(256 * 1024);
    let have = 0;
    let upgraded = false;
    while (true) {
      if (have === buffer.length) throw new Error("a frame larger than the read buffer");
      const n = await conn.read(buffer.subarray(have));
      if (n === null) return void (cutOff = true);
      have += n;
      let at = 0;
      if (!upgraded) {
        const text = new TextDecoder().decode(buffer.subarray(0, have));
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) continue;
        if (!text.startsWith("HTTP/1.1 101")) throw new Error(`upgrade refused: ${text.split("\r\n")[0]}`);
        upgraded = true;
        at = end + 4;
        await conn.write(new Uint8Array([...header, 0, 0, 0, 0, ...register]));
      }
      while (have - at >= 2) {
        let size = buffer[at + 1]! & 0x7f;
        let start = at + 2;
        if (size === 126) {
          if (have - at < 4) break;
          size = (buffer[at + 2]! << 8) | buffer[at + 3]!;
          start = at + 4;
        } else if (size === 127) {
          if (have - at < 10) break;
          size = Number(new DataView(buffer.buffer).getBigUint64(at + 2));
          start = at + 10;
        }
        if (have - start < size) break;
        if ((buffer[at]! & 0x0f) === 8) return void (cutOff = true); // close
        packet(buffer.subarray(start, start + size));
        at = start + size;
      }
      buffer.copyWithin(0, at, have);
      have -= at;
    }
  })();
  await Promise.race([stdinClosed, reading]);
  await stdinClosed;
  conn.close();
  await reading.catch(() => {});
  console.log(JSON.stringify({ client: kind, delivered, reordered, cutOff }));
}
