/**
 * Nothing a client sends ends the process: an exception while handling one client's input closes
 * that client only; running out of file descriptors pauses accepting, then the router serves again.
 */
import assert from "node:assert/strict";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { Router } from "../../lib/router/router.ts";
import type { Session } from "../../lib/router/session.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { eventually } from "./harness.ts";
import { TestClient } from "./test_client.ts";

const BOOM = new TextEncoder().encode("/boom");

/** A router with bugs on purpose: a packet to /boom throws, and so do the leave and expiry of "crash" users. */
class FaultyRouter extends Router {
  faults = 0;
  override receive(session: Session, packet: Uint8Array): void {
    if (BOOM.every((byte, i) => packet[i] === byte)) {
      this.faults++;
      throw new TypeError("injected fault");
    }
    super.receive(session, packet);
  }
  override leave(session: Session): void {
    const who = this.describe(session);
    super.leave(session);
    if (who?.startsWith("crash")) {
      this.faults++;
      throw new RangeError("injected fault on leave");
    }
  }
  override expire(session: Session, seconds: number): void {
    this.faults++;
    super.expire(session, seconds);
    throw new Error("injected fault on expiry");
  }
}

Deno.test("faults: an exception while handling one client closes that client; the others go on", async () => {
  const router = new FaultyRouter();
  const server = Server.start(
    { ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1", lengthPrefixPort: 0, slipPort: 0, registerTimeoutMs: 200 },
    router,
  );
  const [lp, slip] = server.listening.map((l) => l.port) as [number, number];
  const a = await TestClient.connect(lp);
  const b = await TestClient.connect(slip, "slip");
  const faulty: TestClient[] = [];
  try {
    await a.register("a");
    await b.register("b");
    await a.nextMessage();
    for (let i = 0; i < 5; i++) {
      const x = await TestClient.connect(i % 2 ? slip : lp, i % 2 ? "slip" : "length-prefix");
      faulty.push(x);
      await x.register(`crash${i}`);
      await x.send(encodeMessage({ address: "/boom", args: [] }));
      await x.expectClosed();
      await a.sendMsg("/still", { type: "i", value: i });
      let m = await b.nextMessage();
      while (m.address === "/oscrouter/userlist") m = await b.nextMessage();
      assert.deepEqual(m, { address: "/still", args: [{ type: "i", value: i }] });
    }
    // A connection that never registers meets a faulty expiry (in a timer): it is closed, nothing else.
    const silent = await TestClient.connect(lp);
    faulty.push(silent);
    await silent.expectClosed(3000);
    await a.sendMsg("/after");
    let m = await b.nextMessage();
    while (m.address === "/oscrouter/userlist") m = await b.nextMessage();
    assert.equal(m.address, "/after");
    assert.equal(router.faults, 11, "5 packets, 5 leaves, 1 expiry");
    await eventually(() => server.connectionCount === 2, "the faulty connections are gone");
    assert.deepEqual(router.snapshot(), [{ name: "band", users: ["a", "b"] }]);
  } finally {
    await Promise.all([a, b, ...faulty].map((c) => c.close()));
    await server.close();
  }
});

Deno.test("faults: out of file descriptors (ulimit -n 64), the router pauses accepting and serves again", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const root = new URL("../..", import.meta.url).pathname;
  const command = [
    "ulimit -n 64;",
    `exec "${Deno.execPath()}" run --frozen --allow-net --allow-read --allow-env --allow-write main.ts`,
    `--host 127.0.0.1 --osc-port ${port} --disable-osc11`,
    "--max-connections-per-address 1000 --max-unregistered-per-address 1000",
  ].join(" ");
  const child = new Deno.Command("bash", { args: ["-c", command], cwd: root, stdout: "null", stderr: "piped" }).spawn();
  let log = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (text) => void (log += text) }),
  );
  const conns: Deno.TcpConn[] = [];
  try {
    await eventually(() => log.includes("Listening on"), "the router started", 20_000);
    for (let i = 0; i < 100; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    await eventually(() => log.includes("Accept failed"), "an accept failed", 5000);
    assert.match(log, /Too many open files/);
    for (const conn of conns.splice(0)) conn.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // It serves again, at once (the pause is at most 1 s).
    const x = await TestClient.connect(port);
    const y = await TestClient.connect(port);
    try {
      assert.deepEqual(await x.register("x", "after", "p", "g"), ["x"]);
      assert.deepEqual(await y.register("y", "after", "p", "g"), ["x", "y"]);
      await y.sendMsg("/alive");
      let m = await x.nextMessage();
      while (m.address === "/oscrouter/userlist") m = await x.nextMessage();
      assert.equal(m.address, "/alive");
    } finally {
      await x.close();
      await y.close();
    }
    assert.doesNotMatch(log, /Uncaught|panicked/);
  } finally {
    for (const conn of conns) conn.close();
    child.kill("SIGTERM");
    const status = await child.status;
    await reading;
    assert.equal(status.code, 0, `the router exited with ${status.code}:\n${log.slice(-2000)}`);
  }
});
