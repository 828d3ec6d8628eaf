/**
 * Interop: real OSC implementations from Debian's packages as clients of a live router.
 * liblo (python3-liblo) on the length-prefix port; Pure Data with mrpeach [slipenc]/[slipdec]
 * and vanilla [netsend -b], [oscformat], [oscparse] on the SLIP port.
 */
import assert from "node:assert/strict";
import { DEFAULT_SERVER_OPTIONS, Server } from "../../lib/server/server.ts";
import { TestClient, userNames } from "../server/test_client.ts";

const here = new URL(".", import.meta.url).pathname;

async function withRouter(body: (lp: number, slip: number) => Promise<void>) {
  const server = Server.start({ ...DEFAULT_SERVER_OPTIONS, hostname: "127.0.0.1", lengthPrefixPort: 0, slipPort: 0 });
  const port = (f: string) => server.listening.find((l) => l.framing === f)!.port;
  try {
    await body(port("length-prefix"), port("slip"));
  } finally {
    await server.close();
  }
}

interface Received {
  path: string;
  types: string;
  args: unknown[];
}

async function liblo(port: number, user: string, peer: string, seconds: number, types = "rich"): Promise<Received[]> {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [`${here}liblo_client.py`, String(port), user, peer, String(seconds), types],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `liblo client failed: ${stderr}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").filter(Boolean);
  if (lines.length === 0) throw new Error(`liblo client ${user} received nothing; its stderr: ${stderr}`);
  return lines.map((l) => JSON.parse(l));
}

Deno.test("interop: two liblo clients register, exchange every liblo type and private messages", async () => {
  await withRouter(async (lp) => {
    const [ana, bob] = await Promise.all([liblo(lp, "ana", "bob", 8), liblo(lp, "bob", "ana", 8)]);
    for (const [me, other, got] of [["ana", "bob", ana], ["bob", "ana", bob]] as const) {
      assert.deepEqual(got[0], { path: `/oscrouter/register/${me}/4242`, types: "", args: [] });
      assert.ok(got.some((m) => m.path === "/oscrouter/userlist" && m.args.includes(other)));
      const data = got.find((m) => m.path === `/from/${other}`);
      assert.ok(data, `${me} got /from/${other}: ${JSON.stringify(got)}`);
      assert.equal(data.types, "ifsdhcTFNIb");
      assert.deepEqual(data.args.slice(0, 9), [7, 0.5, "text", 0.125, 2 ** 40, "x", true, false, "None"]);
      assert.equal(data.args[9], "inf");
      const priv = got.find((m) => m.path === "/oscrouter/private");
      assert.deepEqual(priv, { path: "/oscrouter/private", types: "ssi", args: [other, "whispa", 9] });
    }
  });
});

function pdPatch(port: number): string {
  // The patch style of examples/puredata: vanilla objects plus mrpeach's SLIP pair, loaded as
  // mrpeach/slipenc from stock Pd's search path (no -path).
  return [
    "#N canvas 0 0 800 600 12;",
    "#X obj 10 10 loadbang;", // 0
    `#X msg 10 40 connect 127.0.0.1 ${port};`, // 1
    "#X obj 10 400 netsend -b;", // 2
    "#X obj 200 40 delay 200;", // 3
    "#X msg 200 70 list pdu pw band gpw;", // 4
    "#X obj 200 100 oscformat oscrouter register;", // 5
    "#X obj 200 300 mrpeach/slipenc 65536;", // 6
    "#X obj 200 330 list prepend send;", // 7
    "#X obj 200 360 list trim;", // 8
    "#X obj 10 440 mrpeach/slipdec 65536;", // 9
    "#X obj 10 470 oscparse;", // 10
    "#X obj 10 500 print RECV;", // 11
    "#X obj 400 40 metro 300;", // 12
    "#X msg 400 70 list 1 2.5 hello;", // 13
    "#X obj 400 100 oscformat fromPd;", // 14
    "#X obj 400 10 delay 600;", // 15
    "#X connect 0 0 1 0;",
    "#X connect 1 0 2 0;",
    "#X connect 0 0 3 0;",
    "#X connect 3 0 4 0;",
    "#X connect 4 0 5 0;",
    "#X connect 5 0 6 0;",
    "#X connect 6 0 7 0;",
    "#X connect 7 0 8 0;",
    "#X connect 8 0 2 0;",
    "#X connect 2 1 9 0;",
    "#X connect 9 0 10 0;",
    "#X connect 10 0 11 0;",
    "#X connect 0 0 15 0;",
    "#X connect 15 0 12 0;",
    "#X connect 12 0 13 0;",
    "#X connect 13 0 14 0;",
    "#X connect 14 0 6 0;",
    "",
  ].join("\n");
}

Deno.test("interop: Pure Data (mrpeach SLIP) and liblo (length prefix) in one group", async () => {
  await withRouter(async (lp, slip) => {
    const dir = await Deno.makeTempDir();
    const observer = await TestClient.connect(lp);
    try {
      await observer.register("observer");
      await Deno.writeTextFile(`${dir}/client.pd`, pdPatch(slip));
      const pd = new Deno.Command("pd", {
        args: [
          "-nogui",
          "-nosound",
          "-nrt",
          "-noprefs",
          "-stderr",
          "-open",
          `${dir}/client.pd`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let lines: string[];
      let got: Received[];
      try {
        got = await liblo(lp, "sc", "pdu", 10, "plain");
      } finally {
        // liblo left: give Pd a moment to print what it received, then stop it.
        await new Promise((resolve) => setTimeout(resolve, 300));
        pd.kill("SIGTERM");
        const out = await pd.output();
        lines = new TextDecoder().decode(out.stderr).split("\n");
      }
      // liblo got Pd's register into the user list, and Pd's messages (floats, symbol).
      assert.ok(got.some((m) => m.path === "/oscrouter/userlist" && m.args.includes("pdu")));
      const fromPd = got.find((m) => m.path === "/fromPd");
      assert.deepEqual(fromPd, { path: "/fromPd", types: "ffs", args: [1, 2.5, "hello"] }, lines.join("\n"));
      // Pd got its register reply (no id: 0), the user lists, and liblo's messages.
      assert.ok(lines.includes("RECV: list oscrouter register pdu 0"), lines.join("\n"));
      const lists = lines.filter((l) => l.startsWith("RECV: list oscrouter userlist observer "));
      assert.ok(lists.some((l) => l.includes(" pdu") && l.includes(" sc")), lines.join("\n"));
      assert.ok(lines.includes("RECV: list from sc 7 0.5 text 3 1 192 219"), lines.join("\n"));
      assert.ok(lines.includes("RECV: list oscrouter private sc whispa 9"), lines.join("\n"));
      // And our own client saw both of them come and go.
      const seen: string[][] = [];
      while (observer.queued > 0) {
        const m = await observer.nextMessage();
        if (m.address === "/oscrouter/userlist") seen.push(userNames(m));
      }
      assert.ok(seen.some((names) => names.includes("pdu")));
    } finally {
      await observer.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
