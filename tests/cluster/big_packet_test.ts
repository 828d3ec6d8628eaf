/**
 * Packets at the router's size limit across instances: NATS's max_payload (1 MiB by default) is
 * as large as --max-packet-bytes, and a broadcast carries its sender's name too.
 */
import assert from "node:assert/strict";
import { s } from "../server/test_client.ts";
import { join, waitForList, withTwoInstances } from "./fixture.ts";

Deno.test("cluster: a broadcast and a private message at the packet size limit do not end an instance", async () => {
  await withTwoInstances("big", async ({ a, b, clients }) => {
    const ana = await join(a.port, "a".repeat(200), "band");
    clients.push(ana.client);
    const bob = await join(b.port, "bob", "band");
    clients.push(bob.client);
    await waitForList(ana.client, ["a".repeat(200), "bob"]);
    const blob = { type: "b" as const, value: new Uint8Array(1024 * 1024 - 64) };
    await ana.client.sendMsg("/big", blob);
    await ana.client.sendMsg("/oscrouter/private", s("bob"), blob);
    await ana.client.sendMsg("/small", s("after"));
    const seen: string[] = [];
    const deadline = Date.now() + 8000;
    while (!seen.includes("/small") && Date.now() < deadline) {
      const m = await bob.client.nextMessage(Math.max(1, deadline - Date.now()));
      seen.push(m.address);
    }
    assert.ok(seen.includes("/small"), `the instance goes on routing: ${JSON.stringify(seen)}`);
    await a.status();
    await b.status();
  });
});
