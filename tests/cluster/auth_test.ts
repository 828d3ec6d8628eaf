/** NATS credentials reach the NATS connection from the environment; without them an instance serves alone and says why. */
import assert from "node:assert/strict";
import { MAIN, PERMISSIONS } from "../main_process.ts";
import { join, Nats, RouterProcess, waitForList } from "./fixture.ts";
import type { TestClient } from "../server/test_client.ts";

Deno.test("cluster: NATS user and password from the environment; without them the instance is not let in", async () => {
  const password = "s3cret-" + crypto.randomUUID();
  const nats = await Nats.start({ extra: ["--user", "router", "--pass", password] });
  const routers: RouterProcess[] = [];
  const clients: TestClient[] = [];
  try {
    const env = { TCPOSCROUTER_CLUSTER_USER: "router", TCPOSCROUTER_CLUSTER_PASSWORD: password };
    const a = await RouterProcess.start([nats.url], "auth", [], env);
    routers.push(a);
    const b = await RouterProcess.start([nats.url], "auth", [], env);
    routers.push(b);
    const ana = await join(a.port, "ana", "band");
    clients.push(ana.client);
    const bob = await join(b.port, "bob", "band");
    clients.push(bob.client);
    assert.deepEqual(bob.list, ["ana", "bob"]);
    await waitForList(ana.client, ["ana", "bob"]);
    // Without the credentials: refused by NATS, logged, and the password never appears in the log.
    const stranger = await RouterProcess.start([nats.url], "auth", [], { TCPOSCROUTER_CLUSTER_USER: "router" });
    routers.push(stranger);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const status = await stranger.status() as { cluster: { state: string } };
    assert.equal(status.cluster.state, "connecting");
    assert.match(stranger.log, /Cannot connect to NATS: .*(Authorization|authorization|permission|auth)/i);
    for (const r of routers) assert.ok(!r.log.includes(password), "no log line holds the NATS password");
  } catch (error) {
    for (const [n, r] of routers.entries()) console.error(`--- router ${n} log ---\n${r.log.slice(-3000)}`);
    throw error;
  } finally {
    for (const c of clients) await c.close();
    for (const r of routers) await r.stop();
    await nats.stop();
  }
});

Deno.test("cluster: a --cluster-creds-file that cannot be read is a usage error (exit 2) that names it", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--frozen",
      "--lock=tests.lock",
      ...PERMISSIONS,
      MAIN,
      "--cluster",
      "nats://127.0.0.1:9",
      "--cluster-creds-file",
      "/nonexistent/router.creds",
    ],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, stderr);
  assert.match(stderr, /Cannot read --cluster-creds-file \/nonexistent\/router\.creds: no such file/);
});
