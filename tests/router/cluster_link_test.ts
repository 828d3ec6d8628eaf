/** The router with a fake cluster link (lib/router/cluster_link.ts): what it asks, what it does with the answers. */
import assert from "node:assert/strict";
import { ProtocolError } from "../../lib/protocol/error_code.ts";
import type { ClusterLink } from "../../lib/router/cluster_link.ts";
import type { RegisterRequest } from "../../lib/router/register.ts";
import { Router } from "../../lib/router/router.ts";
import { errorOf, FakeSession, msg, register, s } from "./fake_session.ts";

/** A link that records every call; claims wait until the test answers them. */
class FakeLink implements ClusterLink {
  calls: string[] = [];
  claims: { request: RegisterRequest; answer: (refusal: ProtocolError | undefined) => void }[] = [];
  remoteUsers = new Map<string, string[]>();
  claim(request: RegisterRequest): Promise<ProtocolError | undefined> {
    this.calls.push(`claim ${request.userName}@${request.groupName}`);
    const { promise, resolve } = Promise.withResolvers<ProtocolError | undefined>();
    this.claims.push({ request, answer: resolve });
    return promise;
  }
  joined(group: string, user: string): void {
    this.calls.push(`joined ${user}@${group}`);
  }
  left(group: string, user: string): void {
    this.calls.push(`left ${user}@${group}`);
  }
  broadcast(group: string, sender: string, packet: Uint8Array): void {
    this.calls.push(`broadcast ${sender}@${group} ${packet.length}`);
  }
  private(group: string, target: string, _packet: Uint8Array): boolean {
    this.calls.push(`private ${target}@${group}`);
    return this.remoteUsers.get(group)?.includes(target) ?? false;
  }
  userNames(group: string, local: Iterable<string>): Iterable<string> {
    return [...this.remoteUsers.get(group) ?? [], ...local];
  }
  /** Admits every claim made so far. */
  async admitAll(): Promise<void> {
    for (const { answer } of this.claims.splice(0)) answer(undefined);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

function setup() {
  const link = new FakeLink();
  const router = new Router({ cluster: link });
  return { link, router };
}

Deno.test("cluster link: a register of a user new here waits for the claim; packets sent meanwhile follow in order", async () => {
  const { link, router } = setup();
  link.remoteUsers.set("band", ["bob"]);
  const ana = new FakeSession("ana");
  router.receive(ana, register("ana"));
  router.receive(ana, msg("/early", s("1")));
  assert.deepEqual(ana.addresses(), [], "nothing before the cluster answers");
  assert.deepEqual(link.calls, ["claim ana@band"]);
  assert.deepEqual(new TextDecoder().decode(link.claims[0]!.request.groupPassword), "gpw");
  await link.admitAll();
  assert.deepEqual(ana.addresses(), ["/oscrouter/register/ana/0", "/oscrouter/userlist"]);
  assert.deepEqual(link.calls.slice(1), ["joined ana@band", "broadcast ana@band 16"]);
  // A second connection of a user known here is decided here: no claim.
  const ana2 = new FakeSession("ana2");
  router.receive(ana2, register("ana"));
  assert.deepEqual(ana2.addresses(), ["/oscrouter/register/ana/0", "/oscrouter/userlist"]);
  assert.equal(link.claims.length, 0);
  // The user list is the cluster's.
  router.receive(ana, msg("/x"));
  const cat = new FakeSession("cat");
  router.receive(cat, register("cat"));
  await link.admitAll();
  const list = cat.take()[1] as { args: { value: string }[] };
  assert.deepEqual(list.args.map((a) => a.value), ["bob", "ana", "cat"]);
  // Leaving: the link hears of a user's last connection only.
  router.leave(ana);
  assert.ok(!link.calls.includes("left ana@band"));
  router.leave(ana2);
  assert.ok(link.calls.includes("left ana@band"));
});

Deno.test("cluster link: a refused claim is a failed register (counted, closed); server_busy is a refusal", async () => {
  const { link, router } = setup();
  const eve = new FakeSession("eve");
  router.receive(eve, register("eve"));
  link.claims.splice(0)[0]!.answer(
    new ProtocolError("wrong_group_password", "Group 'band' exists with another password", "/oscrouter/register"),
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(errorOf(eve.take()[0]!)[0], "wrong_group_password");
  assert.equal(eve.closed, "wrong_group_password");
  assert.equal(router.counters.errors.wrong_group_password, 1);
  const zed = new FakeSession("zed");
  router.receive(zed, register("zed"));
  link.claims.splice(0)[0]!.answer(new ProtocolError("server_busy", "NATS is away", "/oscrouter/register"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(errorOf(zed.take()[0]!)[0], "server_busy");
  assert.equal(zed.closed, "server_busy");
  // A connection that closes while its claim is out is forgotten; the late answer changes nothing.
  const gone = new FakeSession("gone");
  router.receive(gone, register("gone"));
  router.leave(gone);
  await link.admitAll();
  assert.deepEqual(gone.take(), []);
  assert.equal(router.userCount, 0);
  // A claim that throws is a server_busy refusal, not a crash.
  const odd = new FakeSession("odd");
  const throwing = new FakeLink();
  throwing.claim = () => Promise.reject(new Error("boom"));
  const failing = new Router({ cluster: throwing });
  failing.receive(odd, register("odd"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(errorOf(odd.take()[0]!)[0], "server_busy");
});

Deno.test("cluster link: packets from other instances reach local members but the sender's own user", async () => {
  const { link, router } = setup();
  const ana = new FakeSession("ana"), ana2 = new FakeSession("ana2"), cat = new FakeSession("cat");
  router.receive(ana, register("ana"));
  await link.admitAll();
  router.receive(ana2, register("ana"));
  router.receive(cat, register("cat"));
  await link.admitAll();
  for (const x of [ana, ana2, cat]) x.take();
  router.deliverRemote("band", "bob", msg("/from-bob"));
  assert.deepEqual([ana.addresses(), ana2.addresses(), cat.addresses()], [["/from-bob"], ["/from-bob"], ["/from-bob"]]);
  router.deliverRemote("band", "ana", msg("/from-ana-elsewhere"));
  assert.deepEqual([ana.addresses(), ana2.addresses(), cat.addresses()], [[], [], ["/from-ana-elsewhere"]]);
  router.deliverRemote("nogroup", "bob", msg("/lost"));
  router.deliverRemotePrivate("band", "cat", msg("/oscrouter/private", s("bob"), s("k")));
  assert.deepEqual([ana.addresses(), cat.addresses()], [[], ["/oscrouter/private"]]);
  router.deliverRemotePrivate("band", "nobody", msg("/oscrouter/private", s("bob"), s("k")));
  // A private message to a user on another instance only: no unknown_user.
  link.remoteUsers.set("band", ["bob"]);
  router.receive(cat, msg("/oscrouter/private", s("bob"), s("k")));
  assert.deepEqual(cat.take(), []);
  assert.ok(link.calls.includes("private bob@band"));
  router.receive(cat, msg("/oscrouter/private", s("nobody"), s("k")));
  assert.equal(errorOf(cat.take()[0]!)[0], "unknown_user");
  // Membership changed elsewhere: members here get the cluster's list.
  router.clusterChanged("band");
  const list = ana.take()[0] as { address: string; args: { value: string }[] };
  assert.equal(list.address, "/oscrouter/userlist");
  assert.deepEqual(list.args.map((a) => a.value), ["bob", "ana", "cat"]);
  router.clusterChanged("nogroup");
});
