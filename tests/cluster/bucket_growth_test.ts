/**
 * The shared state does not grow with every name ever used: when a user leaves and a group
 * empties, their keys go, and so do the delete markers JetStream keeps for them, so a flood of
 * distinct names does not fill NATS's storage.
 */
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { join, Nats, RouterProcess } from "./fixture.ts";

Deno.test("cluster: groups and users that came and went leave nothing in the bucket, not even delete markers", async () => {
  const nats = await Nats.start();
  const router = await RouterProcess.start([nats.url], "growth");
  const nc = await connect({ servers: nats.url });
  try {
    const kv = await new Kvm(nc).open("growth");
    for (let n = 0; n < 10; n++) {
      const { client } = await join(router.port, `user ${n} ✓.*>`, `group.${n}.*>`);
      await client.close();
    }
    const deadline = Date.now() + 20_000;
    let values = -1;
    while (Date.now() < deadline) {
      values = (await kv.status()).values;
      if (values <= 1) break; // the instance's own heartbeat key
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(values <= 1, `the bucket still holds ${values} entries after 10 groups came and went`);
  } catch (error) {
    console.error(router.log.slice(-3000));
    throw error;
  } finally {
    await nc.close();
    await router.stop();
    await nats.stop();
  }
});
