/**
 * Makes docs/status.png, docs/status-phone.png and docs/client.png: starts the router as shipped
 * (main.ts, default ports, --http-port 8080), brings in musicians in two groups (SuperCollider
 * users on the OSC 1.0 port, Pure Data users on the OSC 1.1 port, one browser on the web client),
 * lets them play for a few seconds, and photographs the pages in headless Chromium.
 *
 * usage: deno run --frozen --lock=tests.lock --allow-all tools/screenshots.ts
 * (needs ports 55555, 55556 and 8080 free, and Chromium: CHROMIUM_PATH or /usr/bin/chromium)
 *
 * @module
 */

import { chromium } from "npm:playwright-core@^1.65.1";
import { TestClient } from "../tests/server/test_client.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const HTTP = "http://127.0.0.1:8080";
const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const router = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--frozen",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    "--allow-sys=networkInterfaces",
    `${ROOT}main.ts`,
    "--http-port",
    "8080",
  ],
  stdout: "inherit",
  stderr: "inherit",
}).spawn();

async function waitForRouter(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${HTTP}/healthz`)).ok) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error("the router did not start");
}

const clients: TestClient[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
try {
  await waitForRouter();
  const join = async (user: string, group: string, framing: "length-prefix" | "slip", groupPassword: string) => {
    const client = await TestClient.connect(framing === "slip" ? 55556 : 55555, framing);
    await client.register(user, group, `${user}-secret`, groupPassword);
    clients.push(client);
    return client;
  };
  const ana = await join("ana", "band", "length-prefix", "bandpass");
  const bob = await join("bob", "band", "length-prefix", "bandpass");
  const carla = await join("carla", "choir", "slip", "choirpass");
  const dmitri = await join("dmitri", "choir", "slip", "choirpass");
  // Someone who came and went, and someone with the wrong group password.
  const hugo = await join("hugo", "band", "length-prefix", "bandpass");
  await hugo.close();
  clients.splice(clients.indexOf(hugo), 1);
  const guest = await TestClient.connect(55556, "slip");
  await guest.sendMsg(
    "/oscrouter/register",
    ...["guest", "x", "choir", "choir-typo"].map((value) => ({ type: "s" as const, value })),
  );
  await guest.expectClosed().catch(() => {});
  await guest.close();

  // The browser joins the band from the router's own page.
  const client = await browser.newPage({ viewport: { width: 900, height: 760 } });
  await client.goto(`${HTTP}/client`);
  await client.fill("#user", "fatima");
  await client.fill("#userPassword", "fatima-secret");
  await client.fill("#group", "band");
  await client.fill("#groupPassword", "bandpass");
  await client.click("#joinButton");
  await client.locator("#users").getByText("fatima").waitFor({ timeout: 10_000 });

  // They play: ana's notes, bob's tempo, the choir's faders.
  let step = 0;
  timers.push(setInterval(() => {
    step++;
    ana.sendMsg("/note", { type: "i", value: 60 + (step % 12) }, { type: "f", value: 0.8 }).catch(() => {});
    carla.sendMsg("/fader/1", { type: "f", value: (step % 100) / 100 }).catch(() => {});
    if (step % 3 === 0) dmitri.sendMsg("/fader/2", { type: "f", value: (step % 50) / 50 }).catch(() => {});
    if (step % 10 === 0) bob.sendMsg("/tempo", { type: "f", value: 96 }).catch(() => {});
  }, 50));
  await sleep(2500);

  const status = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await status.goto(`${HTTP}/`);
  await status.locator("#live").getByText("live").waitFor({ timeout: 10_000 });
  await sleep(2200); // two samples, so that the rates are filled in
  await status.screenshot({ path: `${ROOT}docs/status.png`, fullPage: true });

  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  await phone.goto(`${HTTP}/`);
  await phone.locator("#live").getByText("live").waitFor({ timeout: 10_000 });
  await sleep(2200);
  await phone.screenshot({ path: `${ROOT}docs/status-phone.png`, fullPage: true });

  // The web client, with the notes paused so that a private message and a chat stay in view.
  for (const t of timers.splice(0)) clearInterval(t);
  await sleep(300);
  await bob.sendMsg("/tempo", { type: "f", value: 100 });
  await ana.sendMsg("/oscrouter/private", { type: "s", value: "fatima" }, { type: "s", value: "/hello" }, {
    type: "s",
    value: "welcome to the band",
  });
  await sleep(300);
  await client.fill("#address", "/chat");
  await client.fill("#args", '"hi all, ready when you are"');
  await client.click("#sendButton");
  await client.fill("#to", "ana");
  await client.fill("#address", "/hello");
  await client.fill("#args", '"thanks!"');
  await client.click("#sendButton");
  await ana.sendMsg("/note", { type: "i", value: 67 }, { type: "f", value: 0.8 });
  await sleep(300);
  await client.screenshot({ path: `${ROOT}docs/client.png` });
  console.log("wrote docs/status.png, docs/status-phone.png, docs/client.png");
} finally {
  for (const t of timers) clearInterval(t);
  await browser.close();
  for (const c of clients) await c.close();
  router.kill("SIGTERM");
  await router.status;
}
