/**
 * Three router instances (main.ts processes) on one nats-server behave as one router:
 * broadcast, private messages, user lists, passwords, name uniqueness, a register race, and an
 * instance killed with SIGKILL.
 */
import assert from "node:assert/strict";
import { decodePacket } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { s, TestClient } from "../server/test_client.ts";
import { join, Nats, RouterProcess, waitForList } from "./fixture.ts";

const i = (value: number) => ({ type: "i" as const, value });

/** Runs `body` with a NATS server and `count` routers on it; prints their logs when it fails. */
async function withCluster(
  count: number,
  body: (routers: RouterProcess[], nats: Nats) => Promise<void>,
): Promise<void> {
  const nats = await Nats.start();
  const routers: RouterProcess[] = [];
  try {
    for (let n = 0; n < count; n++) routers.push(await RouterProcess.start([nats.url], "test"));
    await body(routers, nats);
  } catch (error) {
    for (const [n, r] of routers.entries()) console.error(`--- router ${n} log ---\n${r.log.slice(-4000)}`);
    throw error;
  } finally {
    for (const r of routers) await r.stop();
    await nats.stop();
  }
}

/** Reads until a message with this address arrives (user lists and others are skipped). */
async function nextAt(client: TestClient, address: string, timeoutMs = 5000): Promise<OscMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await client.nextMessage(Math.max(1, deadline - Date.now()));
    if (m.address === address) return m;
  }
}

/** The packets queued now, decoded; user lists left out. */
async function drain(client: TestClient, ms = 300): Promise<OscMessage[]> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  const out: OscMessage[] = [];
  while (client.queued > 0) {
    const m = decodePacket(await client.next()) as OscMessage;
    if (m.address !== "/oscrouter/userlist") out.push(m);
  }
  return out;
}

Deno.test("cluster: three instances, one group: broadcast, private messages and one user list in join order", async () => {
  await withCluster(3, async ([a, b, c]) => {
    const ana = await join(a!.port, "ana", "band");
    assert.deepEqual(ana.list, ["ana"]);
    const bob = await join(b!.port, "bob", "band");
    assert.deepEqual(bob.list, ["ana", "bob"]);
    const cat = await join(c!.port, "cat", "band");
    assert.deepEqual(cat.list, ["ana", "bob", "cat"]);
    try {
      await waitForList(ana.client, ["ana", "bob", "cat"]);
      await waitForList(bob.client, ["ana", "bob", "cat"]);

      await ana.client.sendMsg("/note", i(60), s("from ana"));
      for (const other of [bob.client, cat.client]) {
        assert.deepEqual(await nextAt(other, "/note"), { address: "/note", args: [i(60), s("from ana")] });
      }
      assert.deepEqual(await drain(ana.client), [], "the sender gets nothing back");

      await bob.client.sendMsg("/oscrouter/private", s("cat"), s("whispa"), i(5));
      assert.deepEqual(await nextAt(cat.client, "/oscrouter/private"), {
        address: "/oscrouter/private",
        args: [s("bob"), s("whispa"), i(5)],
      });
      assert.deepEqual(await drain(ana.client), [], "a private message reaches its target only");
      await cat.client.sendMsg("/oscrouter/private", s("nobody"), s("k"));
      const [code] = await cat.client.nextError();
      assert.equal(code, "unknown_user");

      // A user leaves on one instance: the others' lists follow.
      await bob.client.close();
      await waitForList(ana.client, ["ana", "cat"]);
      await waitForList(cat.client, ["ana", "cat"]);

      // Where everyone is: the status page of any instance.
      await new Promise((resolve) => setTimeout(resolve, 1200)); // the page samples once a second
      const status = await a!.status() as {
        cluster: { state: string; instances: { live: boolean }[]; users: { user: string; instances: string[] }[] };
      };
      assert.equal(status.cluster.state, "connected");
      assert.equal(status.cluster.instances.filter((x) => x.live).length, 3);
      assert.deepEqual(status.cluster.users.map((u) => u.user).sort(), ["ana", "cat"]);
      assert.match(await a!.metrics(), /^tcposcrouter_cluster_instances 3$/m);
      assert.match(await a!.metrics(), /^tcposcrouter_cluster_connected 1$/m);
    } finally {
      for (const x of [ana, bob, cat]) await x.client.close();
    }
  });
});

Deno.test("cluster: passwords hold across instances, user names are unique, one user may sit on two instances", async () => {
  await withCluster(3, async ([a, b, c]) => {
    const clients: TestClient[] = [];
    try {
      const dan = await join(a!.port, "dan", "g2", "dpw", "right");
      clients.push(dan.client);
      // Wrong group password on another instance.
      const eve = await TestClient.connect(b!.port);
      clients.push(eve);
      await eve.sendMsg("/oscrouter/register", s("eve"), s("x"), s("g2"), s("wrong"));
      assert.equal((await eve.nextError())[0], "wrong_group_password");
      await eve.expectClosed();
      // dan's name with another password, on a third instance.
      const fake = await TestClient.connect(c!.port);
      clients.push(fake);
      await fake.sendMsg("/oscrouter/register", s("dan"), s("other"), s("g2"), s("right"));
      assert.equal((await fake.nextError())[0], "wrong_user_password");
      await fake.expectClosed();
      // dan again, right passwords, on instance B: a second connection of the same user.
      const dan2 = await join(b!.port, "dan", "g2", "dpw", "right");
      clients.push(dan2.client);
      assert.deepEqual(dan2.list, ["dan"]);
      const fay = await join(c!.port, "fay", "g2", "fpw", "right");
      clients.push(fay.client);
      assert.deepEqual(fay.list, ["dan", "fay"]);
      // fay's broadcast reaches both of dan's connections; dan's from B does not come back to dan on A.
      await fay.client.sendMsg("/x", i(1));
      assert.deepEqual(await nextAt(dan.client, "/x"), { address: "/x", args: [i(1)] });
      assert.deepEqual(await nextAt(dan2.client, "/x"), { address: "/x", args: [i(1)] });
      await dan2.client.sendMsg("/y", i(2));
      assert.deepEqual(await nextAt(fay.client, "/y"), { address: "/y", args: [i(2)] });
      assert.deepEqual((await drain(dan.client)).filter((m) => m.address === "/y"), []);
      // A private message to dan reaches both connections.
      await fay.client.sendMsg("/oscrouter/private", s("dan"), s("k"), i(3));
      for (const x of [dan.client, dan2.client]) {
        assert.deepEqual((await nextAt(x, "/oscrouter/private")).args, [s("fay"), s("k"), i(3)]);
      }
    } finally {
      for (const x of clients) await x.close();
    }
  });
});

Deno.test("cluster: two instances register one new group at once with different passwords: one wins", async () => {
  await withCluster(2, async ([a, b]) => {
    for (let round = 0; round < 3; round++) {
      const group = `race${round}`;
      const x = await TestClient.connect(a!.port);
      const y = await TestClient.connect(b!.port);
      try {
        await Promise.all([
          x.sendMsg("/oscrouter/register", s("x"), s("p"), s(group), s("pw-a")),
          y.sendMsg("/oscrouter/register", s("y"), s("p"), s(group), s("pw-b")),
        ]);
        const [rx, ry] = await Promise.all([x.nextMessage(), y.nextMessage()]);
        const joined = [rx, ry].filter((m) => m.address.startsWith("/oscrouter/register/"));
        const refused = [rx, ry].filter((m) => m.address === "/oscrouter/error");
        assert.equal(joined.length, 1, `one winner in round ${round}: ${rx.address} ${ry.address}`);
        assert.equal(refused.length, 1);
        assert.equal((refused[0]!.args[0] as { value: string }).value, "wrong_group_password");
      } finally {
        await x.close();
        await y.close();
      }
    }
  });
});

Deno.test("cluster: one new user name on two instances at once with different passwords: one wins", async () => {
  await withCluster(2, async ([a, b]) => {
    for (let round = 0; round < 3; round++) {
      const user = `twin${round}`;
      const x = await TestClient.connect(a!.port);
      const y = await TestClient.connect(b!.port);
      try {
        await Promise.all([
          x.sendMsg("/oscrouter/register", s(user), s("pw-a"), s("band"), s("g")),
          y.sendMsg("/oscrouter/register", s(user), s("pw-b"), s("band"), s("g")),
        ]);
        const [rx, ry] = await Promise.all([x.nextMessage(), y.nextMessage()]);
        const joined = [rx, ry].filter((m) => m.address.startsWith("/oscrouter/register/"));
        const refused = [rx, ry].filter((m) => m.address === "/oscrouter/error");
        assert.equal(joined.length, 1, `one winner in round ${round}: ${rx.address} ${ry.address}`);
        assert.equal((refused[0]!.args[0] as { value: string }).value, "wrong_user_password");
      } finally {
        await x.close();
        await y.close();
      }
    }
  });
});

Deno.test("cluster: SIGKILL one instance: its users leave within seconds, a reconnect finds its group, survivors lose nothing", async () => {
  await withCluster(3, async ([a, b, c]) => {
    const ana = await join(a!.port, "ana", "band", "apw", "gpw");
    const bob = await join(b!.port, "bob", "band", "bpw", "gpw");
    const cat = await join(c!.port, "cat", "band", "cpw", "gpw");
    const clients = [ana.client, bob.client, cat.client];
    try {
      await waitForList(ana.client, ["ana", "bob", "cat"]);
      assert.deepEqual(cat.list, ["ana", "bob", "cat"]);
      // ana streams numbered packets to cat across the kill.
      const total = 300;
      const sending = (async () => {
        for (let n = 0; n < total; n++) {
          await ana.client.sendMsg("/seq", i(n));
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const killedAt = Date.now();
      b!.kill("SIGKILL");
      await b!.ended();
      // bob leaves both survivors' lists within a few seconds (heartbeats stop; 3 s, swept each 0.5 s).
      await waitForList(ana.client, ["ana", "cat"], 8000);
      const leftAfterMs = Date.now() - killedAt;
      assert.ok(leftAfterMs < 6000, `bob left after ${leftAfterMs} ms`);
      await sending;
      const seen: number[] = [];
      const deadline = Date.now() + 8000;
      while (seen.length < total && Date.now() < deadline) {
        const m = await cat.client.nextMessage(Math.max(1, deadline - Date.now()));
        if (m.address === "/seq") seen.push((m.args[0] as { value: number }).value);
      }
      assert.deepEqual(seen, Array.from({ length: total }, (_, n) => n), "every packet, in order");
      // bob reconnects to another instance: same group, same password.
      const again = await TestClient.connect(c!.port);
      clients.push(again);
      await again.sendMsg("/oscrouter/register", s("bob"), s("bpw"), s("band"), s("wrong"));
      assert.equal((await again.nextError())[0], "wrong_group_password");
      const bob2 = await join(c!.port, "bob", "band", "bpw", "gpw");
      clients.push(bob2.client);
      assert.deepEqual(bob2.list, ["ana", "cat", "bob"]);
      await waitForList(ana.client, ["ana", "cat", "bob"]);
      await ana.client.sendMsg("/hi", i(1));
      assert.deepEqual(await nextAt(bob2.client, "/hi"), { address: "/hi", args: [i(1)] });
    } finally {
      for (const x of clients) await x.close();
    }
  });
});

Deno.test("cluster: a group whose members are all on one instance costs no NATS traffic", async () => {
  await withCluster(2, async ([a, b]) => {
    const published = async (r: RouterProcess) =>
      Number(/^tcposcrouter_cluster_published_total (\d+)$/m.exec(await r.metrics())?.[1]);
    const solo1 = await join(a!.port, "one", "solo");
    const solo2 = await join(a!.port, "two", "solo");
    const far = await join(b!.port, "far", "elsewhere");
    try {
      for (let n = 0; n < 50; n++) await solo1.client.sendMsg("/solo", i(n));
      for (let n = 0; n < 50; n++) assert.equal((await nextAt(solo2.client, "/solo")).args[0]!.type, "i");
      assert.equal(await published(a!), 0, "nothing published for a group held by one instance");
      // Once another instance has a member, each packet is published once (not once per remote user).
      const mate = await join(b!.port, "mate", "solo");
      const mate2 = await join(b!.port, "mate2", "solo");
      await waitForList(solo1.client, ["one", "two", "mate", "mate2"]);
      for (let n = 0; n < 10; n++) await solo1.client.sendMsg("/solo", i(n));
      for (const x of [mate.client, mate2.client]) {
        for (let n = 0; n < 10; n++) assert.deepEqual((await nextAt(x, "/solo")).args, [i(n)]);
      }
      assert.equal(await published(a!), 10);
      // A packet of --max-packet-bytes (1 MiB) with its header is over NATS's max_payload (1 MiB by default):
      // it reaches this instance's members only, and is counted.
      const big = { type: "b" as const, value: new Uint8Array(1_048_560) };
      await solo1.client.sendMsg("/big", big);
      assert.equal((await nextAt(solo2.client, "/big", 10_000)).args.length, 1);
      assert.match(await a!.metrics(), /^tcposcrouter_cluster_publish_errors_total 1$/m);
      await solo1.client.sendMsg("/after", i(1));
      assert.deepEqual((await nextAt(mate.client, "/after")).args, [i(1)], "the NATS connection is intact");
      assert.match(a!.log, /did not go to the other instances/);
      await mate.client.close();
      await mate2.client.close();
    } finally {
      for (const x of [solo1, solo2, far]) await x.client.close();
    }
  });
});

Deno.test("cluster: a flood of registers for new groups from one address, its limits lifted: every one is answered, the router lives", async () => {
  const nats = await Nats.start();
  const limits = ["--max-unregistered-per-address", "500", "--max-connections-per-address", "500"];
  const router = await RouterProcess.start([nats.url], "flood", [...limits, "--max-registers-per-second", "1000"]);
  const clients: TestClient[] = [];
  try {
    const count = 120;
    for (let n = 0; n < count; n++) clients.push(await TestClient.connect(router.port));
    // Each new group costs two scrypt hashes: 4 run at once, and one address may have as many running or
    // waiting as it may have connections not registered (--max-unregistered-per-address, here 500).
    await Promise.all(clients.map((c, n) => c.sendMsg("/oscrouter/register", s(`u${n}`), s("p"), s(`g${n}`), s("q"))));
    const replies = await Promise.all(clients.map((c) => c.nextMessage(60_000)));
    const joined = replies.filter((m) => m.address.startsWith("/oscrouter/register/")).length;
    const busy = replies.filter((m) =>
      m.address === "/oscrouter/error" && (m.args[0] as { value: string }).value === "too_many_attempts"
    );
    assert.equal(joined + busy.length, count, "every register is answered: joined or too_many_attempts");
    assert.equal(joined, count, `${joined} joined: the operator lifted the address's limits`);
    // The router still routes and takes registers.
    const late = await join(router.port, "late", "g0", "x", "q");
    clients.push(late.client);
  } catch (error) {
    console.error(router.log.slice(-3000));
    throw error;
  } finally {
    for (const c of clients) await c.close();
    await router.stop();
    await nats.stop();
  }
});
