/**
 * When NATS fails: a three-node NATS cluster loses a node and routing goes on; a single NATS
 * server stops and each instance serves its own clients, then catches up when NATS returns.
 */
import assert from "node:assert/strict";
import type { OscMessage } from "../../lib/osc/types.ts";
import { s, TestClient } from "../server/test_client.ts";
import { freePorts, join, Nats, RouterProcess, waitForList } from "./fixture.ts";

const i = (value: number) => ({ type: "i" as const, value });

/** Sends `/probe n` from `from` until `to` gets one (NATS may still be reconnecting); returns how long it took. */
async function probeUntilDelivered(from: TestClient, to: TestClient, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (let n = 0; Date.now() - started < timeoutMs; n++) {
    await from.sendMsg("/probe", i(n));
    try {
      for (;;) {
        const m: OscMessage = await to.nextMessage(250);
        if (m.address === "/probe") return Date.now() - started;
      }
    } catch {
      // nothing within 250 ms: send another
    }
  }
  throw new Error(`no probe went through within ${timeoutMs} ms`);
}

/** Reads `/seq` packets until `count` came (other packets skipped). */
async function readSeq(client: TestClient, count: number, timeoutMs = 8000): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (seen.length < count && Date.now() < deadline) {
    const m = await client.nextMessage(Math.max(1, deadline - Date.now()));
    if (m.address === "/seq") seen.push((m.args[0] as { value: number }).value);
  }
  return seen;
}

/**
 * Joins `band`, retrying on server_busy for up to 10 s, as a musician's client would: JetStream takes
 * a few seconds to elect a leader when the cluster forms or loses a node, and registers wait for it.
 */
async function joinRetrying(port: number, user: string): Promise<Awaited<ReturnType<typeof join>>> {
  for (let attempt = 0;; attempt++) {
    try {
      return await join(port, user, "band");
    } catch (error) {
      if (attempt >= 10 || !String(error).includes("server_busy")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

Deno.test("cluster: a three-node NATS cluster loses the node one instance is on: routing goes on", async () => {
  const clusterPorts = freePorts(3);
  const nodes: Nats[] = [];
  const routers: RouterProcess[] = [];
  const clients: TestClient[] = [];
  try {
    for (let n = 0; n < 3; n++) {
      nodes.push(
        await Nats.start({
          node: { name: `n${n}`, clusterPort: clusterPorts[n]!, routes: clusterPorts.filter((_, m) => m !== n) },
        }),
      );
    }
    // JetStream elects its meta leader once the three nodes see each other; the first router waits for the bucket.
    const a = await RouterProcess.start([nodes[0]!.url], "ha", ["--cluster-replicas", "3"]);
    routers.push(a);
    const b = await RouterProcess.start([nodes[1]!.url, nodes[2]!.url], "ha", ["--cluster-replicas", "3"]);
    routers.push(b);
    const ana = await joinRetrying(a.port, "ana");
    clients.push(ana.client);
    const bob = await join(b.port, "bob", "band");
    clients.push(bob.client);
    await waitForList(ana.client, ["ana", "bob"], 10_000);
    await probeUntilDelivered(ana.client, bob.client, 5000);

    nodes[0]!.kill("SIGKILL"); // the node instance A is connected to
    await nodes[0]!.ended();
    const tookMs = await probeUntilDelivered(ana.client, bob.client, 15_000);
    console.log(`routing from A to B resumed ${tookMs} ms after its NATS node was killed`);
    await probeUntilDelivered(bob.client, ana.client, 5000);
    // No loss or reordering once routing is back.
    for (let n = 0; n < 100; n++) await ana.client.sendMsg("/seq", i(n));
    assert.deepEqual(await readSeq(bob.client, 100), Array.from({ length: 100 }, (_, n) => n));
    // The shared state (three replicas, two left) still takes registers on the instance that moved.
    const cat = await joinRetrying(a.port, "cat");
    clients.push(cat.client);
    // Routing resumes within a second, but the bucket's stream elects a new leader first: until then
    // the instances cannot watch the shared state, so B learns of cat late (5-12 s seen; once over 10 s
    // on a loaded machine). Routing never waits for it; the user list catches up.
    await waitForList(bob.client, ["ana", "bob", "cat"], 30_000);
    const wrong = await TestClient.connect(b.port);
    clients.push(wrong);
    await wrong.sendMsg("/oscrouter/register", s("dan"), s("x"), s("band"), s("not-gpw"));
    assert.equal((await wrong.nextError(5000))[0], "wrong_group_password");
  } catch (error) {
    for (const [n, r] of routers.entries()) console.error(`--- router ${n} log ---\n${r.log.slice(-4000)}`);
    throw error;
  } finally {
    for (const c of clients) await c.close();
    for (const r of routers) await r.stop();
    for (const n of nodes) await n.stop();
  }
});

Deno.test("cluster: NATS stops: each instance serves its own clients and says so; it catches up when NATS returns", async () => {
  const storeDir = await Deno.makeTempDir({ prefix: "nats-js-" });
  let nats = await Nats.start({ storeDir });
  const port = nats.port;
  const routers: RouterProcess[] = [];
  const clients: TestClient[] = [];
  try {
    const a = await RouterProcess.start([nats.url], "down");
    routers.push(a);
    const b = await RouterProcess.start([nats.url], "down");
    routers.push(b);
    const ana = await join(a.port, "ana", "band");
    const amy = await join(a.port, "amy", "band");
    const bob = await join(b.port, "bob", "band");
    clients.push(ana.client, amy.client, bob.client);
    await waitForList(ana.client, ["ana", "amy", "bob"]);

    nats.kill("SIGKILL");
    await nats.ended();
    // Local routing goes on at once.
    await ana.client.sendMsg("/local", i(1));
    assert.deepEqual(
      await amy.client.nextMessage(2000).then(async function skip(m): Promise<OscMessage> {
        return m.address === "/local" ? m : skip(await amy.client.nextMessage(2000));
      }),
      { address: "/local", args: [i(1)] },
    );
    // A new user of a group this instance has members of is admitted; a new group is not (it needs NATS).
    const ada = await join(a.port, "ada", "band");
    clients.push(ada.client);
    const stranger = await TestClient.connect(a.port);
    clients.push(stranger);
    await stranger.sendMsg("/oscrouter/register", s("zed"), s("z"), s("newgroup"), s("g"));
    const [code, message] = await stranger.nextError(8000);
    assert.equal(code, "server_busy");
    assert.match(message, /NATS/);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const status = await a.status() as { cluster: { state: string } };
    assert.equal(status.cluster.state, "disconnected");
    assert.match(await a.metrics(), /^tcposcrouter_cluster_connected 0$/m);

    // NATS returns (same port, same store): the instances catch up.
    nats = await Nats.start({ port, storeDir });
    const backAt = Date.now();
    // (Before the probes, which skip user lists.) ada, admitted while NATS was away, is now known on B.
    await waitForList(bob.client, ["ana", "amy", "bob", "ada"], 20_000);
    await probeUntilDelivered(ana.client, bob.client, 20_000);
    console.log(`cross-instance routing resumed ${Date.now() - backAt} ms after NATS came back`);
    await bob.client.sendMsg("/back", i(2));
    for (const c of [ana.client, amy.client, ada.client]) {
      let m: OscMessage;
      do m = await c.nextMessage(5000); while (m.address !== "/back");
    }
  } catch (error) {
    for (const [n, r] of routers.entries()) console.error(`--- router ${n} log ---\n${r.log.slice(-4000)}`);
    throw error;
  } finally {
    for (const c of clients) await c.close();
    for (const r of routers) await r.stop();
    await nats.stop();
    await Deno.remove(storeDir, { recursive: true });
  }
});

Deno.test("cluster: an instance started before NATS serves its clients, joins when NATS comes; SIGTERM leaves at once", async () => {
  const [natsPort] = freePorts(1) as [number];
  const url = `nats://127.0.0.1:${natsPort}`;
  const routers: RouterProcess[] = [];
  const clients: TestClient[] = [];
  let nats: Nats | undefined;
  try {
    const a = await RouterProcess.start([url], "late");
    routers.push(a);
    // No NATS yet: a new group cannot be created (it needs the shared state)...
    const early = await TestClient.connect(a.port);
    clients.push(early);
    await early.sendMsg("/oscrouter/register", s("ana"), s("apw"), s("band"), s("gpw"));
    assert.equal((await early.nextError(8000))[0], "server_busy");
    // ...until NATS comes.
    nats = await Nats.start({ port: natsPort });
    let ana;
    for (let attempt = 0;; attempt++) {
      try {
        ana = await join(a.port, "ana", "band");
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    clients.push(ana.client);
    const b = await RouterProcess.start([url], "late");
    routers.push(b);
    const bob = await join(b.port, "bob", "band");
    clients.push(bob.client);
    assert.deepEqual(bob.list, ["ana", "bob"]);
    await probeUntilDelivered(ana.client, bob.client, 5000);
    await waitForList(ana.client, ["ana", "bob"]);
    // A clean stop (SIGTERM) takes its users out of every list at once, without waiting for heartbeats to lapse.
    // (Heartbeats lapse 3 s after the last one: measured from the process's exit, that would take seconds.)
    await b.stop();
    const exitedAt = Date.now();
    await waitForList(ana.client, ["ana"], 3000);
    const tookMs = Date.now() - exitedAt;
    assert.ok(tookMs < 1500, `bob left ${tookMs} ms after his instance exited`);
  } catch (error) {
    for (const [n, r] of routers.entries()) console.error(`--- router ${n} log ---\n${r.log.slice(-4000)}`);
    throw error;
  } finally {
    for (const c of clients) await c.close();
    for (const r of routers) await r.stop();
    await nats?.stop();
  }
});
