/**
 * The attacks of issue 10 (and the lock-out and flood parts that issue 11 builds on), each a function that starts it
 * against a running router and returns a handle whose `stop()` ends it and describes what was sent.
 *
 * Every attack uses loopback source addresses of its own (127.0.B.x, B fixed per attack), so per-address limits apply
 * to attackers and never to the well-behaved pair (127.0.0.2). Volumes are kept within what a 2-core machine can
 * generate while the router and the pair still get CPU.
 */
import type net from "node:net";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { connectFrom, destroy, frame, OscSocket, registerPacket, sleep, writeAll } from "./net.ts";

/** Where the attacks go. */
export interface Target {
  oscPort: number;
  slipPort: number;
  httpPort: number;
}

/** A running attack. */
export interface Running {
  /** Ends the attack, closes all it opened, and says what it sent (e.g. `250 connections, 40 cut`). */
  stop(): Promise<string>;
}

/** An attack of the suite. */
export interface Attack {
  /** Short name, for the table. */
  name: string;
  /** What it does. */
  description: string;
  /** Seconds it needs to open or register its connections, added to the phase (default 0). */
  setupSeconds?: number;
  /** Starts it. */
  start(target: Target): Running;
}

/** The source address `i` of an attack's block `b` (`count` addresses in all). */
function source(block: number, i: number, count: number): string {
  return `127.0.${block}.${1 + (i % count)}`;
}

/** Sockets an attack opened, closed all at once at the end; counts the ones the router closed first. */
class Crowd {
  readonly sockets = new Set<net.Socket>();
  stopped = false;
  cutByRouter = 0;
  failedConnects = 0;

  add(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => {
      this.sockets.delete(socket);
      if (!this.stopped) this.cutByRouter++;
    });
    if (this.stopped) socket.destroy(); // opened after the end: closed at once, awaited by finish()
    return socket;
  }

  async open(port: number, localAddress: string, timeoutMs = 5000): Promise<net.Socket | undefined> {
    if (this.stopped) return undefined;
    try {
      return this.add(await connectFrom(port, localAddress, timeoutMs));
    } catch {
      this.failedConnects++;
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.sockets].map((socket) => destroy(socket)));
  }

  /** Stops: closes every socket (which unblocks pending writes), waits for the attack's loop, closes late ones. */
  async finish(run: Promise<unknown>): Promise<void> {
    this.stopped = true;
    await this.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([run, new Promise((resolve) => timer = setTimeout(resolve, 5000))]);
    clearTimeout(timer);
    await this.close();
  }
}

/** Runs `body` every `intervalMs` until stopped (errors ignored: the router may refuse or cut anything). */
function every(crowd: Crowd, intervalMs: number, body: () => Promise<void>): Promise<void> {
  return (async () => {
    while (!crowd.stopped) {
      const started = performance.now();
      await body().catch(() => {});
      await sleep(Math.max(1, intervalMs - (performance.now() - started)));
    }
  })();
}

/** Runs `count` tasks with at most `parallel` at once. */
async function inBatches(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) await task(next++).catch(() => {});
  }));
}

function u32(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

async function registered(crowd: Crowd, port: number, localAddress: string, user: string, group: string) {
  if (crowd.stopped) return undefined;
  const client = await OscSocket.connect(port, localAddress).catch(() => undefined);
  if (client === undefined) {
    crowd.failedConnects++;
    return undefined;
  }
  crowd.add(client.socket);
  return (await client.register(user, group)) ? client : undefined;
}

/** `/a ,b` with blob size 0x7ffffffd: 16 bytes. */
export const BLOB_BOMB: Uint8Array = new Uint8Array([
  0x2f,
  0x61,
  0,
  0,
  0x2c,
  0x62,
  0,
  0,
  0x7f,
  0xff,
  0xff,
  0xfd,
  0,
  0,
  0,
  0,
]);

const blobBomb: Attack = {
  name: "blob size 0x7ffffffd",
  description: "16-byte /a ,b packet (blob size 0x7ffffffd) every 250 ms over TCP (unregistered and registered), " +
    "SLIP and WebSocket; a member of the sender's group counts what it is forwarded",
  start(target) {
    const crowd = new Crowd();
    const sockets = new Set<WebSocket>();
    let rounds = 0;
    let forwarded = 0;
    const run = (async () => {
      const victim = await registered(crowd, target.oscPort, source(10, 0, 4), "victim", "evil1");
      const bomber = await registered(crowd, target.oscPort, source(10, 1, 4), "bomber", "evil1");
      const counting = (async () => {
        while (victim && !crowd.stopped) {
          const packet = await victim.next(500);
          if (packet?.length === 16 && packet[1] === 0x61) forwarded++;
        }
      })();
      await every(crowd, 250, async () => {
        rounds++;
        if (bomber && !bomber.closed) await bomber.send(BLOB_BOMB);
        const tcp = await crowd.open(target.oscPort, source(10, 2, 4));
        if (tcp) await writeAll(tcp, frame(BLOB_BOMB));
        const slip = await crowd.open(target.slipPort, source(10, 3, 4));
        if (slip) await writeAll(slip, new Uint8Array([0xc0, ...BLOB_BOMB, 0xc0]));
        const ws = new WebSocket(`ws://127.0.0.1:${target.httpPort}/osc`);
        sockets.add(ws);
        const closed = new Promise<void>((resolve) => ws.onclose = () => resolve());
        ws.onerror = () => {};
        ws.onopen = () => ws.send(BLOB_BOMB);
        await sleep(100);
        ws.close();
        await Promise.race([closed, sleep(2000)]);
        sockets.delete(ws);
        if (tcp) await destroy(tcp);
        if (slip) await destroy(slip);
      });
      await counting;
    })();
    return {
      async stop() {
        await crowd.finish(run);
        return `${rounds} rounds; ${forwarded} forwarded to the group`;
      },
    };
  },
};

const partialFrames: Attack = {
  name: "250 x (1 MiB - 1) partial frames",
  setupSeconds: 4,
  description: "250 connections from 10 addresses (half registered) each send a 1 MiB length prefix and all of " +
    "the frame but its last byte, then hold",
  start(target) {
    const crowd = new Crowd();
    const body = new Uint8Array(1024 * 1024 - 1);
    let sent = 0;
    const run = inBatches(250, 25, async (i) => {
      const from = source(11, i, 10);
      let socket: net.Socket | undefined;
      if (i % 2 === 0) socket = (await registered(crowd, target.oscPort, from, `hold${i}`, "evil2"))?.socket;
      else socket = await crowd.open(target.oscPort, from);
      if (socket === undefined || crowd.stopped) return;
      if (i % 2 === 0) socket.pause();
      socket.write(u32(1024 * 1024));
      if (await writeAll(socket, body)) sent++;
    });
    return {
      async stop() {
        await crowd.finish(run);
        return `${sent} frames held (of 250), ${crowd.failedConnects} connects failed, ${crowd.cutByRouter} cut`;
      },
    };
  },
};

const trickle: Attack = {
  name: "1 byte per read x 50",
  description: "50 connections from 5 addresses declare a 1 MiB frame, then send it one byte per write " +
    "(up to 20,000 bytes each, 1 MB in all), one byte per connection every 2 ms",
  start(target) {
    const crowd = new Crowd();
    let trickled = 0;
    const run = (async () => {
      const sockets: net.Socket[] = [];
      await inBatches(50, 10, async (i) => {
        const socket = await crowd.open(target.oscPort, source(12, i, 5));
        if (socket === undefined) return;
        socket.write(u32(1024 * 1024));
        sockets.push(socket);
      });
      const one = new Uint8Array([0x41]);
      let perSocket = 0;
      while (!crowd.stopped && perSocket < 20_000) {
        for (const socket of sockets) {
          if (!socket.destroyed && socket.writableLength < 4096) {
            socket.write(one);
            trickled++;
          }
        }
        perSocket++;
        await sleep(2);
      }
    })();
    return {
      async stop() {
        await crowd.finish(run);
        return `${trickled} bytes trickled, ${crowd.cutByRouter} connections cut`;
      },
    };
  },
};

const websocketBig: Attack = {
  name: "WebSocket 63 MiB before login",
  description: "6 WebSocket clients at a time each send one 63 MiB binary message to /osc before registering, " +
    "then close and start again",
  start(target) {
    let stopped = false;
    let sent = 0;
    let refused = 0;
    const big = new Uint8Array(63 * 1024 * 1024);
    big.set(encodeMessage({ address: "/big", args: [] }));
    const client = async () => {
      while (!stopped) {
        const ws = new WebSocket(`ws://127.0.0.1:${target.httpPort}/osc`);
        const closed = new Promise<void>((resolve) => ws.onclose = () => resolve());
        ws.onerror = () => {};
        const opened = await Promise.race([
          new Promise<boolean>((resolve) => ws.onopen = () => resolve(true)),
          closed.then(() => false),
        ]);
        if (opened) {
          ws.send(big);
          sent++;
          await Promise.race([closed, sleep(3000)]);
        } else {
          refused++;
        }
        ws.close();
        await Promise.race([closed, sleep(2000)]);
        if (!opened) await sleep(200);
      }
    };
    const run = Promise.all(Array.from({ length: 6 }, client));
    return {
      async stop() {
        stopped = true;
        await run;
        return `${sent} messages of 63 MiB sent, ${refused} upgrades refused`;
      },
    };
  },
};

const fanout: Attack = {
  name: "flood 250 non-reading members",
  setupSeconds: 8,
  description: "250 members of group crowd (10 addresses) stop reading; one member floods the group with 1 KiB " +
    "packets as fast as its socket takes them",
  start(target) {
    const crowd = new Crowd();
    let members = 0;
    let sentBytes = 0;
    const run = (async () => {
      const joined: OscSocket[] = [];
      await inBatches(250, 25, async (i) => {
        const member = await registered(crowd, target.oscPort, source(13, i, 10), `m${i}`, "crowd");
        if (member) joined.push(member);
      });
      members = joined.length;
      for (const member of joined) member.pause();
      const flooder = await registered(crowd, target.oscPort, source(13, 10, 11), "flooder", "crowd");
      if (flooder === undefined) return;
      flooder.drain();
      const packet = frame(encodeMessage({ address: "/spam", args: [{ type: "b", value: new Uint8Array(1000) }] }));
      const burst = new Uint8Array(packet.length * 64);
      for (let k = 0; k < 64; k++) burst.set(packet, k * packet.length);
      while (!crowd.stopped && !flooder.closed) {
        if (!(await writeAll(flooder.socket, burst))) break;
        sentBytes += burst.length;
      }
    })();
    return {
      async stop() {
        await crowd.finish(run);
        return `${members} members, ${
          (sentBytes / 2 ** 20).toFixed(0)
        } MiB sent by the flooder, ${crowd.cutByRouter} cut`;
      },
    };
  },
};

const sseNoRead: Attack = {
  name: "100 /events never read",
  description: "100 clients (10 addresses) request /events and never read",
  start(target) {
    const crowd = new Crowd();
    let opened = 0;
    const request = new TextEncoder().encode(
      `GET /events HTTP/1.1\r\nHost: 127.0.0.1:${target.httpPort}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    const run = inBatches(100, 20, async (i) => {
      const socket = await crowd.open(target.httpPort, source(14, i, 10));
      if (socket === undefined) return;
      await writeAll(socket, request);
      socket.pause();
      opened++;
    });
    return {
      async stop() {
        await crowd.finish(run);
        return `${opened} opened, ${crowd.failedConnects} failed, ${crowd.cutByRouter} cut`;
      },
    };
  },
};

const idleHttp: Attack = {
  name: "4,100 idle HTTP connections",
  setupSeconds: 4,
  description: "4,100 TCP connections to the HTTP port (21 addresses) that send nothing; the router runs with " +
    "4,096 open files, as under the systemd unit",
  start(target) {
    const crowd = new Crowd();
    let opened = 0;
    const run = inBatches(4100, 50, async (i) => {
      if (await crowd.open(target.httpPort, source(15, i, 21), 2000)) opened++;
    });
    return {
      async stop() {
        await crowd.finish(run);
        return `${opened} opened, ${crowd.failedConnects} failed, ${crowd.cutByRouter} cut`;
      },
    };
  },
};

/** `/oscrouter/ping` with 1,048,558 `T` tags: exactly 1 MiB. */
function typeTagPing(): Uint8Array {
  const packet = new Uint8Array(1024 * 1024);
  packet.set(new TextEncoder().encode("/oscrouter/ping"));
  packet[16] = 0x2c;
  packet.fill(0x54, 17, 16 + 1 + 1_048_558);
  return packet;
}

/** A bundle of 43,690 `/oscrouter/ping` messages: exactly 1 MiB. */
function pingBundle(): Uint8Array {
  const ping = encodeMessage({ address: "/oscrouter/ping", args: [] });
  const element = new Uint8Array(4 + ping.length);
  element.set(u32(ping.length));
  element.set(ping, 4);
  const count = Math.floor((1024 * 1024 - 16) / element.length);
  const bundle = new Uint8Array(16 + count * element.length);
  bundle.set(new TextEncoder().encode("#bundle"));
  bundle[15] = 1; // immediately
  for (let i = 0; i < count; i++) bundle.set(element, 16 + i * element.length);
  return bundle;
}

function pinger(name: string, block: number, packet: () => Uint8Array, intervalMs: number, what: string): Attack {
  return {
    name,
    description: `a registered client sends ${what} every ${intervalMs} ms and reads (drops) the replies`,
    start(target) {
      const crowd = new Crowd();
      let sent = 0;
      let client: OscSocket | undefined;
      const framed = frame(packet());
      const run = (async () => {
        client = await registered(crowd, target.oscPort, source(block, 0, 1), "pinger", `evil${block}`);
        if (client === undefined) return;
        client.drain();
        await every(crowd, intervalMs, async () => {
          if (client!.closed) return;
          if (await writeAll(client!.socket, framed)) sent++;
        });
      })();
      return {
        async stop() {
          const cut = crowd.cutByRouter > 0 ? ", cut by the router" : "";
          await crowd.finish(run);
          const replies = ((client?.receivedBytes ?? 0) / 2 ** 20).toFixed(1);
          return `${sent} sent, ${replies} MiB of replies read${cut}`;
        },
      };
    },
  };
}

const connectFlood: Attack = {
  name: "connect+close 500/s",
  description: "500 connections a second (10 addresses), each closed as soon as it is open",
  start(target) {
    const crowd = new Crowd();
    let opened = 0;
    let tick = 0;
    const started = performance.now();
    const run = (async () => {
      while (!crowd.stopped) {
        for (let k = 0; k < 5; k++) {
          connectFrom(target.oscPort, source(16, tick * 5 + k, 10), 2000).then(
            (socket) => {
              opened++;
              crowd.sockets.add(socket);
              socket.once("close", () => crowd.sockets.delete(socket));
              socket.on("error", () => {});
              socket.destroy();
            },
            () => crowd.failedConnects++,
          );
        }
        tick++;
        await sleep(Math.max(0, tick * 10 - (performance.now() - started)));
      }
      await sleep(2100); // connects still under way settle
    })();
    return {
      async stop() {
        await crowd.finish(run);
        return `${opened} opened and closed, ${crowd.failedConnects} failed`;
      },
    };
  },
};

/** A forged log line: an OSC address that ends the line, imitates a register, and sends terminal escapes. */
export const FORGED_ADDRESS = "/x\n2026-01-01 00:00:00.000 +00:00 [INF] tcposcrouter·router: fake@band registered " +
  "from 10.0.0.1:4242 (length-prefix)\x1b[2J\x1b]0;owned\x07\u009b31m";

/** A malformed packet whose address is {@linkcode FORGED_ADDRESS} (its int argument is missing). */
function forgedPacket(): Uint8Array {
  const address = new TextEncoder().encode(FORGED_ADDRESS);
  const padded = (address.length + 4) & ~3;
  const packet = new Uint8Array(padded + 4);
  packet.set(address);
  packet.set([0x2c, 0x69, 0, 0], padded);
  return packet;
}

const forgedLog: Attack = {
  name: "address with \\n and ESC",
  description: "a registered client sends malformed packets whose address holds a newline, a fake register line " +
    "and ANSI/OSC escapes, every 250 ms; so does a new unregistered connection",
  start(target) {
    const crowd = new Crowd();
    let sent = 0;
    const packet = frame(forgedPacket());
    const run = (async () => {
      const mallory = await registered(crowd, target.oscPort, source(17, 0, 2), "mallory", "evil17");
      mallory?.drain();
      await every(crowd, 250, async () => {
        if (mallory && !mallory.closed && await writeAll(mallory.socket, packet)) sent++;
        const fresh = await crowd.open(target.oscPort, source(17, 1, 2));
        if (fresh && await writeAll(fresh, packet)) sent++;
        await sleep(50);
        if (fresh) await destroy(fresh);
      });
    })();
    return {
      async stop() {
        await crowd.finish(run);
        return `${sent} forged packets sent`;
      },
    };
  },
};

/** Every attack, in the order the suite runs them one by one. */
export const ATTACKS: readonly Attack[] = [
  blobBomb,
  partialFrames,
  trickle,
  websocketBig,
  fanout,
  sseNoRead,
  idleHttp,
  pinger("1 MiB ping of type tags", 18, typeTagPing, 600, "a 1 MiB /oscrouter/ping made of T type tags"),
  pinger("1 MiB bundle of pings", 19, pingBundle, 1000, "a 1 MiB bundle of 43,690 /oscrouter/ping messages"),
  connectFlood,
  forgedLog,
];

export { registerPacket };
