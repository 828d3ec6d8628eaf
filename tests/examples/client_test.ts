/** The TypeScript client in examples/ works against a live router. */
import assert from "node:assert/strict";
import { RouterClient } from "../../examples/client.ts";
import type { OscPacket } from "../../lib/osc/types.ts";
import { eventually, withServer } from "../server/harness.ts";

Deno.test("examples/client.ts: register, user list, send, receive, private, errors", async () => {
  await withServer({}, async ({ lp, slip }) => {
    const ana = await RouterClient.connect({ hostname: "127.0.0.1", port: lp });
    const bob = await RouterClient.connect({ hostname: "127.0.0.1", port: slip, framing: "slip" });
    const eve = await RouterClient.connect({ hostname: "127.0.0.1", port: lp });
    try {
      const got: OscPacket[] = [];
      bob.onMessage = (p) => got.push(p);
      assert.deepEqual(await ana.register({ user: "ana", password: "a", group: "band", groupPassword: "g" }), ["ana"]);
      assert.deepEqual(await bob.register({ user: "bob", password: "b", group: "band", groupPassword: "g" }), [
        "ana",
        "bob",
      ]);
      await eventually(() => ana.users.length === 2, "ana sees bob");
      await ana.send("/note", { type: "i", value: 60 });
      await ana.sendPrivate("bob", "whispa", { type: "s", value: "hi" });
      await eventually(() => got.length === 2, "bob receives both");
      assert.deepEqual(got[0], { address: "/note", args: [{ type: "i", value: 60 }] });
      assert.deepEqual(got[1], {
        address: "/oscrouter/private",
        args: [{ type: "s", value: "ana" }, { type: "s", value: "whispa" }, { type: "s", value: "hi" }],
      });
      const errors: string[] = [];
      eve.onError = (e) => errors.push(e.code);
      await assert.rejects(eve.register({ user: "ana", password: "guess", group: "band", groupPassword: "g" }));
      assert.deepEqual(errors, ["wrong_user_password"]);
    } finally {
      ana.close();
      bob.close();
      eve.close();
      await Promise.all([ana.closed, bob.closed, eve.closed]);
    }
  });
});
