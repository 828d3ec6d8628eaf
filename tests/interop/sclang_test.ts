/**
 * Interop with SuperCollider's sclang (Debian's supercollider-language), headless: it joins the
 * way OSCRouterClient does and exchanges messages, a bundle, doubles and private messages with
 * a TCP client in the same group.
 */
import assert from "node:assert/strict";
import { decodePacket } from "../../lib/osc/codec.ts";
import type { OscBundle, OscMessage } from "../../lib/osc/types.ts";
import { withServer } from "../server/harness.ts";
import { s, TestClient, userNames } from "../server/test_client.ts";

const here = new URL(".", import.meta.url).pathname;

Deno.test("interop: sclang joins like OSCRouterClient and talks with a TCP client", async () => {
  await withServer({}, async ({ lp }) => {
    const peer = await TestClient.connect(lp);
    const dir = await Deno.makeTempDir();
    try {
      await peer.register("peer", "band", "peerPassword", "bandPassword");
      // An empty class library extension dir keeps sclang from reading the user's config.
      await Deno.writeTextFile(`${dir}/conf.yaml`, `includePaths: []\nexcludePaths: []\npostInlineWarnings: false\n`);
      const sclang = new Deno.Command("sclang", {
        args: ["-l", `${dir}/conf.yaml`, `${here}sclang_client.scd`],
        env: {
          ROUTER_PORT: String(lp),
          SC_USER: "sc",
          PEER_USER: "peer",
          QT_QPA_PLATFORM: "offscreen",
          QTWEBENGINE_DISABLE_SANDBOX: "1",
          QTWEBENGINE_CHROMIUM_FLAGS: "--no-sandbox",
          HOME: dir,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // The peer sees sc join, answers with a message and a private one, and collects what sc sends.
      const fromSc: (OscMessage | OscBundle)[] = [];
      let scRunning = true;
      const collect = (async () => {
        while (scRunning || peer.queued > 0) {
          let bytes: Uint8Array;
          try {
            bytes = await peer.next(100);
          } catch {
            continue;
          }
          const p = decodePacket(bytes);
          if (!("address" in p) || p.address !== "/oscrouter/userlist") fromSc.push(p);
          else if (userNames(p).includes("sc")) {
            await peer.sendMsg("/note", { type: "i", value: 1 }, { type: "d", value: 2.5 }, s("hi"));
            await peer.sendMsg("/oscrouter/private", s("sc"), s("whispa"), { type: "i", value: 9 });
          }
        }
      })();
      const out = await sclang.output();
      scRunning = false;
      await collect;
      const text = new TextDecoder().decode(out.stdout);
      const results = new Map<string, string[]>();
      for (const line of text.split("\n")) {
        const m = /^RESULT (\S+) ?(.*)$/.exec(line);
        if (m) results.set(m[1]!, [...results.get(m[1]!) ?? [], m[2]!]);
      }
      assert.deepEqual(results.get("done"), ["ok"], text);
      assert.equal(results.get("registered")?.[0]?.replace(/\/\d+$/, ""), "/oscrouter/register/sc");
      assert.ok(results.get("userlist")?.includes("peer,sc"), text);
      assert.deepEqual(results.get("note"), ["Integer:1,Float:2.5,Symbol:hi"], text);
      assert.deepEqual(results.get("private"), ["peer,whispa,9"], text);
      assert.deepEqual(results.get("error")?.map((e) => e.split(",")[0]), ["already_registered"], text);
      // What sc sent reached the peer: doubles stay doubles, the bundle stays a bundle.
      const notes = fromSc.filter((p) => "address" in p && p.address === "/note") as OscMessage[];
      assert.deepEqual(notes[0]?.args, [{ type: "i", value: 60 }, { type: "d", value: 0.25 }, s("text")]);
      const bundle = fromSc.find((p) => "timetag" in p) as OscBundle | undefined;
      assert.ok(bundle && bundle.timetag > 1n, JSON.stringify(fromSc, (_k, v) => typeof v === "bigint" ? `${v}` : v));
      assert.deepEqual(bundle.elements, [{
        address: "/note",
        args: [{ type: "i", value: 62 }, { type: "d", value: 1.5 }],
      }]);
      const priv = fromSc.find((p) => "address" in p && p.address === "/oscrouter/private") as OscMessage;
      assert.deepEqual(priv.args, [s("sc"), s("whispa"), { type: "i", value: 7 }]);
      assert.ok(
        !fromSc.some((p) => "address" in p && p.address.startsWith("/oscrouter/ping")),
        "pings are not forwarded",
      );
    } finally {
      await peer.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
