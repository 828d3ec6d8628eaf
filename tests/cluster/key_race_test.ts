/**
 * A group's or user's key removed from the shared state while an instance still holds members
 * (another instance's stale view: the last member left there while one joined here, or an
 * instance taken for dead) is put back by the instance that holds them, so a stranger cannot
 * then create the group or the user with a password of its own.
 */
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { registerMessage } from "../../lib/client/router_client.ts";
import { encodeName } from "../../lib/cluster/cluster_view.ts";
import { TestClient } from "../server/test_client.ts";
import { join, Nats, RouterProcess } from "./fixture.ts";

Deno.test("cluster: a held group's and user's keys removed by a stale instance come back; a stranger's passwords are refused", async () => {
  const nats = await Nats.start();
  const a = await RouterProcess.start([nats.url], "race");
  const b = await RouterProcess.start([nats.url], "race");
  const nc = await connect({ servers: nats.url });
  const clients: TestClient[] = [];
  try {
    const kv = await new Kvm(nc).open("race");
    const ana = await join(a.port, "ana", "band", "upw", "gpw");
    clients.push(ana.client);
    const g = encodeName("band");
    // What another instance's forgetIfGone does when its view has not seen ana yet.
    await kv.delete(`g.${g}`);
    await kv.delete(`u.${g}.${encodeName("ana")}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const stranger = await TestClient.connect(b.port);
    clients.push(stranger);
    await stranger.send(
      registerMessage({
        user: "eve",
        password: "x",
        group: "band",
        groupPassword: "not-gpw",
        id: 1,
      }),
    );
    const [code] = await stranger.nextError(10_000);
    assert.equal(code, "wrong_group_password");
    const imposter = await TestClient.connect(b.port);
    clients.push(imposter);
    await imposter.send(
      registerMessage({
        user: "ana",
        password: "other",
        group: "band",
        groupPassword: "gpw",
        id: 1,
      }),
    );
    const [code2] = await imposter.nextError(10_000);
    assert.equal(code2, "wrong_user_password");
  } catch (error) {
    console.error(a.log.slice(-3000));
    throw error;
  } finally {
    for (const c of clients) await c.close();
    await nc.close();
    await a.stop();
    await b.stop();
    await nats.stop();
  }
});
