/**
 * The status page and the web client in a real headless Chromium (Debian's chromium, driven by
 * playwright-core; no browser download). The screenshots in docs/ come from tools/screenshots.ts.
 *
 * This file runs last of the interop files (by name): once playwright-core had driven Chromium in
 * the test process, the liblo clients that a later test started sometimes received nothing.
 */
import assert from "node:assert/strict";
import { chromium } from "npm:playwright-core@^1.65.1";
import { startHttp } from "../../lib/http/http_server.ts";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { s, TestClient } from "../server/test_client.ts";

/** Debian's chromium, or a Chrome already on the machine (CHROMIUM_PATH to choose). */
const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ??
  ["/usr/bin/chromium", "/usr/bin/google-chrome", "/usr/bin/chromium-browser"].find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  }) ?? "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

Deno.test({
  name: "interop: Chromium shows a TCP user on the status page, and the web client talks with TCP clients",
  async fn() {
    const server = Server.start({ ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1", lengthPrefixPort: 0, slipPort: 0 });
    const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "test" });
    const lp = server.listening.find((l) => l.framing === "length-prefix")!.port;
    const base = `http://127.0.0.1:${http.port}`;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const sc = await TestClient.connect(lp);
    const pd = await TestClient.connect(server.listening.find((l) => l.framing === "slip")!.port, "slip");
    try {
      await sc.register("supercollider", "ensemble", "p", "gpw");
      await pd.register("puredata", "ensemble", "p", "gpw");
      await sc.nextMessage();
      const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
      await page.goto(`${base}/`);
      await page.locator("#groups").getByText("supercollider, puredata").waitFor({ timeout: 10_000 });
      await page.locator("#live").getByText("live").waitFor({ timeout: 10_000 });
      assert.equal(await page.locator("#c-lp").textContent(), "1");
      assert.equal(await page.locator("#c-slip").textContent(), "1");

      // The web client joins the same group from the router's own page.
      const client = await browser.newPage();
      await client.goto(`${base}/client`);
      await client.fill("#user", "browser");
      await client.fill("#userPassword", "bpw");
      await client.fill("#group", "ensemble");
      await client.fill("#groupPassword", "gpw");
      await client.click("#joinButton");
      await client.locator("#users li", { hasText: "browser" }).waitFor({ timeout: 10_000 });
      assert.deepEqual(await client.locator("#users li").allTextContents(), ["supercollider", "puredata", "browser"]);
      await client.fill("#address", "/chat");
      await client.fill("#args", '60 0.5 "hello from the browser"');
      await client.click("#sendButton");
      let m = await sc.nextMessage(5000);
      while (m.address === "/oscrouter/userlist") m = await sc.nextMessage(5000);
      assert.deepEqual(m, {
        address: "/chat",
        args: [{ type: "i", value: 60 }, { type: "f", value: 0.5 }, { type: "s", value: "hello from the browser" }],
      });
      await sc.sendMsg("/note", { type: "i", value: 64 }, { type: "s", value: "from sc" });
      await client.locator("#log").getByText('/note 64 "from sc"').waitFor({ timeout: 10_000 });
      // Each line has its time.
      assert.match((await client.locator("#log li time").first().textContent()) ?? "", /^\d\d:\d\d:\d\d$/);

      // A private message shows its sender, as the router names it.
      await sc.sendMsg("/oscrouter/private", s("browser"), s("/hello"), s("just for you"));
      const privateLine = client.locator("#log li.private").first();
      await privateLine.getByText('/hello "just for you"').waitFor({ timeout: 10_000 });
      assert.equal(await privateLine.locator(".from").textContent(), "supercollider → you:");
      // And the browser can send one: to a user, from the "to" field.
      await client.fill("#to", "supercollider");
      await client.fill("#address", "/reply");
      await client.fill("#args", "7");
      await client.click("#sendButton");
      m = await sc.nextMessage(5000);
      while (m.address === "/oscrouter/userlist" || m.address === "/chat") m = await sc.nextMessage(5000);
      assert.deepEqual(m, {
        address: "/oscrouter/private",
        args: [s("browser"), s("/reply"), { type: "i", value: 7 }],
      });
      await client.fill("#to", "");

      // Both pages have the inline favicon.
      for (const p of [page, client]) {
        assert.match((await p.locator("link[rel=icon]").getAttribute("href")) ?? "", /^data:image\/svg\+xml,/);
      }

      // The status page lists each connection: the browser is there, on WebSocket, and its join is an event.
      const browserRow = page.locator("#conns tr", { hasText: "browser@ensemble" });
      await browserRow.getByText("WebSocket").waitFor({ timeout: 10_000 });
      await page.locator("#events tr", { hasText: "browser@ensemble" }).getByText("joined").waitFor({
        timeout: 10_000,
      });

      // The status page follows: three users, one of them on WebSocket.
      await page.locator("#c-ws").getByText("1").waitFor({ timeout: 10_000 });
      await page.locator("#groups").getByText("supercollider, puredata, browser").waitFor({ timeout: 10_000 });

      // Leave: the browser is gone from the group, and its user list is cleared.
      await client.click("#leaveButton");
      await client.locator("#state").getByText("offline").waitFor({ timeout: 10_000 });
      assert.equal(await client.locator("#users li").count(), 1);
      assert.equal(await client.locator("#users").textContent(), "not connected");
      assert.ok(await client.locator("#leaveButton").isDisabled());
      m = await sc.nextMessage(5000);
      while (m.address !== "/oscrouter/userlist") m = await sc.nextMessage(5000);
      assert.deepEqual(m.args, [s("supercollider"), s("puredata")]);
      await page.locator("#events tr", { hasText: "browser@ensemble" }).getByText("left").waitFor({ timeout: 10_000 });

      // Join again; when the router goes away, the list clears too.
      await client.click("#joinButton");
      await client.locator("#users").getByText("browser").waitFor({ timeout: 10_000 });
      await server.close();
      await client.locator("#state").getByText("offline").waitFor({ timeout: 10_000 });
      assert.equal(await client.locator("#users").textContent(), "not connected");
    } finally {
      await browser.close();
      await sc.close();
      await pd.close();
      await server.close();
      await http.shutdown();
    }
  },
});

Deno.test({
  name: "interop: Chromium cannot reach /osc from another site's page, nor read /status.json by DNS rebinding",
  async fn() {
    const server = Server.start({ ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1", lengthPrefixPort: 0, slipPort: 0 });
    const http = await startHttp(server, { hostname: "127.0.0.1", port: 0, version: "test" });
    // "Another site": a page served from another port on this machine.
    const evil = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
      new Response(
        `<script>
          const ws = new WebSocket("ws://127.0.0.1:${http.port}/osc");
          ws.onopen = () => document.title = "opened";
          ws.onclose = () => document.title = document.title || "refused";
        </script>`,
        { headers: { "content-type": "text/html" } },
      ));
    // DNS rebinding: a name the attacker controls resolves to the router.
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...ARGS, "--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${evil.addr.port}/`);
      const deadline = Date.now() + 10_000;
      while (await page.title() === "" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await page.title(), "refused");
      assert.equal(server.connectionCount, 0);

      const response = await page.goto(`http://rebind.attacker.test:${http.port}/status.json`);
      assert.equal(response?.status(), 421);
      assert.doesNotMatch(await page.content(), /"groups"/);
      // The router's own name still works.
      const own = await page.goto(`http://localhost:${http.port}/status.json`);
      assert.equal(own?.status(), 200);
    } finally {
      await browser.close();
      await evil.shutdown();
      await server.close();
      await http.shutdown();
    }
  },
});
