/** `tcposcrouter bridge` as a user meets it: a refused password ends it with exit 1 and one plain message. */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { withServer } from "../server/harness.ts";
import { TestClient } from "../server/test_client.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

Deno.test("bridge cli: a wrong group password exits 1 with a clear message, after one attempt", async () => {
  await withServer({}, async ({ lp }) => {
    const owner = await TestClient.connect(lp);
    try {
      await owner.register("owner", "band", "opw", "the-band-password");
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--frozen",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          "--allow-write",
          MAIN,
          "bridge",
          "--server",
          `127.0.0.1:${lp}`,
          "--user",
          "touchosc",
          "--group",
          "band",
          "--listen-udp",
          `127.0.0.1:${await freeUdpPort()}`,
          "--send-udp",
          `127.0.0.1:${await freeUdpPort()}`,
        ],
        env: {
          NO_COLOR: "1",
          TCPOSCROUTER_USER_PASSWORD: "tpw",
          TCPOSCROUTER_GROUP_PASSWORD: "not-the-band-password",
        },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Before the fix it retried forever: the guard turns that into a failure, not a hang.
      const guard = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const out = await child.output();
      clearTimeout(guard);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      assert.match(stderr, /\[ERR\] .*The router refused touchosc@band: wrong_group_password: Group 'band' exists/);
      assert.match(stderr, /\[ERR\] .*Stopped: retrying cannot fix wrong_group_password\. Check --user, --group/);
      assert.doesNotMatch(
        stderr,
        /retrying in|Connected to the router[^]*Connected to the router/,
        "no second attempt",
      );
      assert.equal(stderr.match(/\[ERR\]/g)?.length, 2, `the refusal and what to do, once each:\n${stderr}`);
      assert.doesNotMatch(stderr, /not-the-band-password|tpw/, "no password in the output");
    } finally {
      await owner.close();
    }
  });
});
