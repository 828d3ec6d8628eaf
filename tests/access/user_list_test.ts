/** User-list pacing over real sockets: churn is coalesced, the last list always arrives. */
import assert from "node:assert/strict";
import { NetClient, withRouter } from "./net_client.ts";

Deno.test("user lists: join/leave churn reaches members coalesced, and the last list is the true one", async () => {
  await withRouter({}, async (port, router) => {
    const members: NetClient[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const m = await NetClient.connect(port, `127.0.0.${2 + i}`);
        m.register(`m${i}`, "band", "upw", "gpw");
        await m.waitFor(2);
        members.push(m);
      }
      await new Promise((resolve) => setTimeout(resolve, 250)); // past the gap of the last join
      const first = members[0]!;
      const before = first.messages.length;
      const started = performance.now();
      const bob = await NetClient.connect(port, "127.0.0.20");
      bob.register("bob", "band", "upw", "gpw");
      await first.waitFor(before + 1);
      const singleJoinMs = performance.now() - started;
      const changes = 40;
      for (let i = 0; i < changes / 2; i++) {
        const eve = await NetClient.connect(port, "127.0.0.30");
        eve.register(`eve${i}`, "band", "upw", "gpw");
        await eve.waitFor(2); // its own reply and list come at once
        await eve.close();
      }
      const names = () => {
        const last = first.messages.at(-1)!;
        return last.args.map((a) => (a as { value: string }).value);
      };
      const expected = ["m0", "m1", "m2", "m3", "m4", "bob"];
      const deadline = Date.now() + 3000;
      while (JSON.stringify(names()) !== JSON.stringify(expected) || router.snapshot()[0]!.users.length !== 6) {
        if (Date.now() > deadline) throw new Error(`last list ${JSON.stringify(names())}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lists = first.messages.length - before - 1;
      console.log(
        `${changes} changes of membership reached a member as ${lists} user lists; a single join in ${
          singleJoinMs.toFixed(1)
        } ms`,
      );
      assert.ok(singleJoinMs < 100, "a single join is sent at once");
      assert.ok(lists < changes / 2, `${lists} lists for ${changes} changes`);
      assert.deepEqual(names(), expected, "the last list is the true one");
      await bob.close();
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  });
});
