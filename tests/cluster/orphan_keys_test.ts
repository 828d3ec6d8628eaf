/**
 * An instance killed between creating a group's and a user's keys and marking its user (SIGKILL
 * mid-register) leaves keys nobody holds: the other instances remove them after a while, so the
 * name does not stay taken (with that password) and the bucket does not keep them forever.
 */
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { encodeName } from "../../lib/cluster/cluster_view.ts";
import { hashPassword } from "../../lib/access/password_hash.ts";
import type { TestClient } from "../server/test_client.ts";
import { join, Nats, RouterProcess } from "./fixture.ts";

Deno.test("cluster: a group's and user's keys left by an instance killed mid-register are removed", async () => {
  const nats = await Nats.start();
  const a = await RouterProcess.start([nats.url], "orphan");
  const nc = await connect({ servers: nats.url });
  const clients: TestClient[] = [];
  try {
    const kv = await new Kvm(nc).open("orphan");
    const g = encodeName("band");
    const verifier = await hashPassword("killed-gpw", { ln: 10, r: 8, p: 1 });
    // What a SIGKILLed instance leaves: the keys its claim created, no member key.
    await kv.create(`g.${g}`, JSON.stringify({ v: verifier }));
    await kv.create(`u.${g}.${encodeName("ana")}`, JSON.stringify({ v: verifier }));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && ((await kv.get(`g.${g}`))?.operation ?? "DEL") === "PUT") {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.notEqual((await kv.get(`g.${g}`))?.operation ?? "DEL", "PUT", "the group's key is still there");
    assert.notEqual((await kv.get(`u.${g}.${encodeName("ana")}`))?.operation ?? "DEL", "PUT", "the user's too");
    const ana = await join(a.port, "ana", "band", "new-upw", "new-gpw");
    clients.push(ana.client);
    assert.deepEqual(ana.list, ["ana"]);
  } catch (error) {
    console.error(a.log.slice(-3000));
    throw error;
  } finally {
    for (const c of clients) await c.close();
    await nc.close();
    await a.stop();
    await nats.stop();
  }
});
