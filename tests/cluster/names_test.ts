/**
 * Names with any content PROTOCOL.md allows (dots, `*`, `>`, spaces, unicode, 256 bytes) route
 * across instances: they never break a subject or a key.
 */
import assert from "node:assert/strict";
import { s } from "../server/test_client.ts";
import { join, waitForList, withTwoInstances } from "./fixture.ts";

const utf8 = new TextEncoder();

Deno.test("cluster: 256-byte names with dots, wildcards, spaces and emoji route across instances", async () => {
  const group = "🎵".repeat(63) + ".*>";
  const ana = "a.b *>" + "é".repeat(125);
  const bob = "> *. " + "🎸".repeat(62) + "x".repeat(3);
  assert.equal(utf8.encode(group).length, 255);
  assert.equal(utf8.encode(ana).length, 256);
  assert.equal(utf8.encode(bob).length, 256);
  await withTwoInstances("names", async ({ a, b, clients }) => {
    const x = await join(a.port, ana, group);
    clients.push(x.client);
    const y = await join(b.port, bob, group);
    clients.push(y.client);
    assert.deepEqual(y.list, [ana, bob]);
    await waitForList(x.client, [ana, bob]);
    await x.client.sendMsg("/note", s("hi"));
    let m = await y.client.nextMessage(5000);
    assert.deepEqual(m, { address: "/note", args: [s("hi")] });
    await y.client.sendMsg("/oscrouter/private", s(ana), s("psst"));
    m = await x.client.nextMessage(5000);
    assert.deepEqual(m, { address: "/oscrouter/private", args: [s(bob), s("psst")] });
  });
});
