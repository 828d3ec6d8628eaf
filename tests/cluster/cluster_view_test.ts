/** The cluster's shared state as one instance sees it (pure: no NATS). */
import assert from "node:assert/strict";
import { ClusterView, decodeName, encodeName } from "../../lib/cluster/cluster_view.ts";
import { parseCommandLine, UsageError } from "../../lib/cli/options.ts";

const empty = new Uint8Array();
const verifier = (v: string) => new TextEncoder().encode(JSON.stringify({ v }));

function view(self = "A") {
  const clock = { now: 0 };
  const v = new ClusterView(self, { now: () => clock.now, deadAfterMs: 3000 });
  let revision = 0;
  const put = (key: string, value = empty) => v.apply({ key, operation: "PUT", revision: ++revision, value });
  const del = (key: string) => v.apply({ key, operation: "DEL", revision: ++revision, value: empty });
  return { v, clock, put, del };
}

const G = encodeName("band");
const user = (name: string) => `u.${G}.${encodeName(name)}`;
const member = (name: string, instance: string) => `m.${G}.${encodeName(name)}.${instance}`;

Deno.test("cluster view: any name is one token and comes back unchanged", () => {
  for (const name of ["ana", "a.b", "a b/c>*", "Ana María", "🎹", "x".repeat(256), "-_=+"]) {
    const token = encodeName(name);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.equal(decodeName(token), name);
  }
});

Deno.test("cluster view: user lists in join order (the user key's revision), this instance's users included", () => {
  const { v, put } = view();
  put("i.B");
  put(user("bob"), verifier("$scrypt$b"));
  put(member("bob", "B"));
  put(user("ana"), verifier("$scrypt$a"));
  put(member("ana", "A"));
  assert.deepEqual(v.userNames("band", ["ana"]), ["bob", "ana"]);
  // A local user not in the bucket yet comes last; a stale key of this instance's without a local user does not count.
  assert.deepEqual(v.userNames("band", ["ana", "new"]), ["bob", "ana", "new"]);
  assert.deepEqual(v.userNames("band", []), ["bob"]);
  assert.equal(v.othersIn("band"), true);
  assert.equal(v.elsewhere("band", "bob"), true);
  assert.equal(v.elsewhere("band", "ana"), false);
  assert.equal(v.othersIn("other"), false);
});

Deno.test("cluster view: an instance silent for longer than the limit is dead; its users drop out", () => {
  const { v, clock, put, del } = view();
  put("i.B");
  put(user("bob"));
  put(member("bob", "B"));
  clock.now = 3000;
  assert.deepEqual(v.deadInstances(), []);
  clock.now = 3001;
  assert.deepEqual(v.deadInstances(), ["B"]);
  assert.deepEqual(v.membersOf("B"), [["band", "bob"]]);
  assert.deepEqual(v.userNames("band", []), []);
  assert.equal(v.othersIn("band"), false);
  // Cut off from NATS, this instance cannot tell: every instance gets a fresh grace period.
  v.forgiveAll();
  assert.deepEqual(v.deadInstances(), []);
  // A member key without a heartbeat at all is dead at once.
  put(member("cat", "C"));
  assert.deepEqual(v.deadInstances(), ["C"]);
  del("i.B");
  assert.ok(v.deadInstances().includes("B"), "B still holds a member key, with no heartbeat");
  // Heartbeats on the core subject keep an instance alive without the bucket (JetStream may be electing a leader).
  put(member("dan", "0123456789ab"));
  v.seen("0123456789ab");
  clock.now += 2000;
  v.seen("0123456789ab");
  clock.now += 2000;
  assert.ok(!v.deadInstances().includes("0123456789ab"));
  assert.deepEqual(v.instancesOf("band", "dan"), ["0123456789ab"]);
  v.seen("not an id");
  assert.ok(!v.snapshot().instances.some((i) => i.id === "not an id"));
});

Deno.test("cluster view: verifiers, removals, and keys it does not understand", () => {
  const { v, put, del } = view();
  assert.equal(put(`g.${G}`, verifier("$scrypt$x")), undefined);
  assert.equal(v.group("band")?.verifier, "$scrypt$x");
  assert.equal(put(user("ana"), verifier("$scrypt$y")), "band");
  assert.equal(v.user("band", "ana")?.verifier, "$scrypt$y");
  assert.equal(del(user("ana")), "band");
  assert.equal(v.user("band", "ana"), undefined);
  del(`g.${G}`);
  assert.equal(v.group("band"), undefined);
  assert.equal(put("zz.future.key"), undefined);
  assert.equal(put("u.%%%.###"), undefined, "a bad token is ignored");
  assert.equal(put(`g.${G}`, new TextEncoder().encode("not json")), undefined);
  assert.equal(v.group("band"), undefined);
  v.clear();
  assert.deepEqual(v.snapshot().users, []);
});

Deno.test("cluster options: --cluster takes NATS URLs, never credentials; secrets come from the environment", () => {
  const none = parseCommandLine([], {}, "0");
  assert.ok(none.kind === "run" && none.config.cluster === undefined, "no --cluster: no cluster");
  const result = parseCommandLine(["--cluster", "nats://10.0.0.1:4222, tls://n2:4222"], {
    TCPOSCROUTER_CLUSTER_USER: "router",
    TCPOSCROUTER_CLUSTER_PASSWORD: "secret",
  }, "0");
  assert.ok(result.kind === "run");
  assert.deepEqual(result.config.cluster, {
    servers: ["nats://10.0.0.1:4222", "tls://n2:4222"],
    name: "tcposcrouter",
    replicas: 1,
    credsFile: undefined,
    caFile: undefined,
    user: "router",
    password: "secret",
    token: undefined,
  });
  const named = parseCommandLine(["--cluster", "nats://h:1", "--cluster-name", "venue", "--cluster-replicas", "3"], {
    TCPOSCROUTER_CLUSTER_CREDS_FILE: "/etc/nats/router.creds",
  }, "0");
  assert.ok(named.kind === "run");
  assert.equal(named.config.cluster?.name, "venue");
  assert.equal(named.config.cluster?.replicas, 3);
  assert.equal(named.config.cluster?.credsFile, "/etc/nats/router.creds");
  const fromEnv = parseCommandLine([], { TCPOSCROUTER_CLUSTER: "nats://h:1", TCPOSCROUTER_CLUSTER_NAME: "v2" }, "0");
  assert.ok(fromEnv.kind === "run" && fromEnv.config.cluster?.name === "v2");
  for (
    const [args, why] of [
      [["--cluster", "nats://user:pw@h:4222"], /credentials do not belong on the command line/],
      [["--cluster", "nats://h:1,nats://u:pw@[bad"], /server 2 is not a URL/],
      [["--cluster", "http://h:4222"], /not a NATS scheme/],
      [["--cluster", ","], /at least one NATS server/],
      [["--cluster", "nats://h:1", "--cluster-name", "a.b"], /--cluster-name must be 1 to 64/],
      [["--cluster", "nats://h:1", "--cluster-replicas", "9"], /from 1 to 5/],
    ] as const
  ) {
    assert.throws(() => parseCommandLine([...args], {}, "0"), (error) => {
      assert.ok(error instanceof UsageError, args.join(" "));
      assert.equal(error.code, "invalid_value");
      assert.match(error.message, why);
      assert.doesNotMatch(error.message, /pw@/, "the password is not echoed");
      return true;
    });
  }
});
