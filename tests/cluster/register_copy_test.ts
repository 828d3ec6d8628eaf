/**
 * A register that waits for the cluster keeps its own copies of the passwords: the connection's
 * read buffer they arrived in is reused by the packets that follow before NATS answers.
 */
import assert from "node:assert/strict";
import { registerMessage } from "../../lib/client/router_client.ts";
import { encodeFrame } from "../../lib/framing/by_framing.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { TestClient } from "../server/test_client.ts";
import { join, withTwoInstances } from "./fixture.ts";

Deno.test("cluster: packets sent right after a register do not change the passwords it is checked with", async () => {
  await withTwoInstances("copy", async ({ a, b, clients }) => {
    const ana = await TestClient.connect(a.port);
    clients.push(ana);
    const register = encodeFrame(
      "length-prefix",
      registerMessage({ user: "ana", password: "upw", group: "band", groupPassword: "gpw", id: 7 }),
    );
    // More packets in the same write, each as long as the register: they land where its passwords were.
    const filler = encodeFrame(
      "length-prefix",
      encodeMessage({ address: "/x", args: [{ type: "b", value: new Uint8Array(15_000).fill(0x41) }] }),
    );
    const bytes = new Uint8Array(register.length + 4 * filler.length);
    bytes.set(register);
    for (let k = 0; k < 4; k++) bytes.set(filler, register.length + k * filler.length);
    await ana.sendRaw(bytes);
    const reply = await ana.nextMessage(10_000);
    assert.equal(reply.address, "/oscrouter/register/ana/7", `got ${reply.address} ${JSON.stringify(reply.args)}`);
    // The passwords stored for the cluster are the ones sent: another instance admits them.
    const again = await join(b.port, "ana", "band", "upw", "gpw");
    clients.push(again.client);
    assert.deepEqual(again.list, ["ana"]);
  });
});
