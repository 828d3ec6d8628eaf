/**
 * The shipped examples, run as shipped, talk to each other through a router on the default
 * ports: the Pure Data patch on stock Pd (no `-path`), clicked box by box, and
 * examples/client.ts started with the README's command.
 */
import assert from "node:assert/strict";
import { TestClient } from "../server/test_client.ts";
import {
  collect,
  PureData,
  readmeClientCommand,
  ROOT,
  Sclang,
  scUnits,
  waitFor,
  withDefaultRouter,
} from "./shipped.ts";

const SC_EXAMPLE = `${ROOT}examples/supercollider/oscrouterclient.scd`;

Deno.test("shipped: the Pd patch (bob) and client.ts with the README's command (carol) exchange messages", async () => {
  await withDefaultRouter(async () => {
    const pd = await PureData.open();
    let pdOutput = "";
    try {
      await pd.click("connect 127.0.0.1 55556");
      await pd.click("list bob bobSecret band bandSecret");
      await waitFor(pd.output.text, /^registered: bob 0$/m);
      const { env, flags, args } = await readmeClientCommand();
      const client = new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, "examples/client.ts", ...args],
        cwd: ROOT,
        clearEnv: true,
        env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", NO_COLOR: "1", ...env },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stdout = collect(client.stdout), stderr = collect(client.stderr);
      const stdin = client.stdin.getWriter();
      try {
        await waitFor(stdout.text, /^joined band as carol; users: bob, carol$/m);
        await waitFor(pd.output.text, /^users: bob carol$/m);
        // carol said hello when she joined; Pd prints what the group sends.
        await waitFor(pd.output.text, /^from-group: chat hello\\ from\\ carol$/m);
        await stdin.write(new TextEncoder().encode("see you at bar 32\n"));
        await waitFor(pd.output.text, /^from-group: chat see\\ you\\ at\\ bar\\ 32$/m);
        // The boxes on the right, as shipped.
        await pd.click("60 0.5");
        await pd.click("list hello from Pd");
        await waitFor(stdout.text, /^\/note 60 0\.5$/m);
        await waitFor(stdout.text, /^\/chat hello from Pd$/m);
      } finally {
        await stdin.close().catch(() => {});
        const status = await client.status;
        await Promise.all([stdout.done, stderr.done]);
        assert.equal(status.code, 0, stderr.text());
      }
      await waitFor(pd.output.text, /^users: bob$/m);
      await pd.click("disconnect");
    } finally {
      pdOutput = await pd.close();
    }
    assert.doesNotMatch(pdOutput, /couldn't create|no method|error:/i, pdOutput);
  });
});

Deno.test("shipped: the SuperCollider example (ana), evaluated block by block, and the Pd patch (bob) talk, privately too", async () => {
  await withDefaultRouter(async () => {
    const pd = await PureData.open();
    let sc: Sclang | undefined;
    let scOutput = "", pdOutput = "";
    try {
      await pd.click("connect 127.0.0.1 55556");
      await pd.click("list bob bobSecret band bandSecret");
      await waitFor(pd.output.text, /^registered: bob 0$/m);
      sc = await Sclang.start(scUnits(await Deno.readTextFile(SC_EXAMPLE)));
      const scText = sc.output.text;
      await waitFor(scText, /^joined band as ana$/m);
      await waitFor(pd.output.text, /^users: bob ana$/m);
      await waitFor(scText, /^\[ bob, ana \]$/m); // ~router.peers.postln
      // ana's messages reach Pd: the note, the double, the private message to bob.
      await waitFor(pd.output.text, /^from-group: note 60 0\.5$/m);
      await waitFor(pd.output.text, /^private: ana whispa meet\\ me\\ at\\ bar\\ 32$/m);
      // Pd's boxes reach ana's responders (installed by then: they come before the sends).
      await pd.click("60 0.5");
      await pd.click("list hello from Pd");
      await pd.click("list ana whispa 1 2 3");
      await waitFor(scText, /^note from the group: \[ \/note, 60\.0, 0\.5 \]$/m);
      await waitFor(scText, /^chat from the group: \[ \/chat, hello, from, Pd \]$/m);
      await waitFor(scText, /^bob whispers \[ whispa, 1\.0, 2\.0, 3\.0 \]$/m);
      scOutput = await sc.finish();
      sc = undefined;
      await waitFor(pd.output.text, /^users: bob$/m); // ana left with ~router.close
    } finally {
      if (sc !== undefined) scOutput = await sc.finish();
      pdOutput = await pd.close();
    }
    assert.match(scOutput, /^EVAL done$/m, scOutput);
    assert.doesNotMatch(scOutput, /EVAL ERROR|^ERROR|^WARNING: router error|unknown user/m, scOutput);
    assert.doesNotMatch(pdOutput, /couldn't create|no method|ERROR/, pdOutput);
  });
});

Deno.test("shipped: the SuperCollider example with a taken name shows the router's reason", async () => {
  await withDefaultRouter(async () => {
    const owner = await TestClient.connect(55555);
    let sc: Sclang | undefined;
    try {
      await owner.register("ana", "band", "not-anaSecret", "bandSecret");
      sc = await Sclang.start(scUnits(await Deno.readTextFile(SC_EXAMPLE)));
      await waitFor(sc.output.text, /^WARNING: router error: \[ wrong_user_password, .+ \]$/m);
      await waitFor(sc.output.text, /could not connect or auth with 127\.0\.0\.1$/m);
    } finally {
      await sc?.finish();
      await owner.close();
    }
  });
});

Deno.test("shipped: the README's SuperCollider snippet, evaluated as one block, sends its first /note over TCP", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const snippet = /```supercollider\n([^]*?)```/.exec(readme)?.[1];
  assert.ok(snippet, "README.md has a supercollider snippet");
  await withDefaultRouter(async () => {
    const bob = await TestClient.connect(55555);
    let sc: Sclang | undefined;
    try {
      await bob.register("bob", "band", "bobSecret", "bandSecret");
      // The one change a reader makes: the router's address.
      sc = await Sclang.start([`(\n${snippet.replace("venue.example.org", "127.0.0.1")})`, "~router.close;"]);
      let note;
      for (;;) {
        const m = await bob.nextMessage(20_000);
        if (m.address === "/note") {
          note = m;
          break;
        }
      }
      assert.deepEqual(note.args.map((a) => "value" in a ? a.value : a.type), [60, 0.5]);
      await bob.sendMsg("/note", { type: "i", value: 62 });
      await waitFor(sc.output.text, /\[ \/note, 62 \]/);
    } finally {
      await sc?.finish();
      await bob.close();
    }
  });
});

Deno.test("shipped: the plain-NetAddr SuperCollider example (dan) joins and exchanges with another user", async () => {
  await withDefaultRouter(async () => {
    const bob = await TestClient.connect(55555);
    let sc: Sclang | undefined;
    try {
      await bob.register("bob", "band", "bobSecret", "bandSecret");
      const units = scUnits(await Deno.readTextFile(`${ROOT}examples/supercollider/netaddr_tcp.scd`));
      sc = await Sclang.start(units);
      await waitFor(sc.output.text, /^registered: \/oscrouter\/register\/dan\/\d+$/m);
      const got: string[] = [];
      while (got.length < 2) {
        const packet = await bob.next(20_000);
        const text = new TextDecoder().decode(packet.subarray(0, 8));
        if (text.startsWith("#bundle")) got.push("bundle");
        else if (text.startsWith("/note")) got.push("note");
      }
      assert.deepEqual(got, ["note", "bundle"]);
      await bob.sendMsg("/note", { type: "i", value: 64 });
      await waitFor(sc.output.text, /^note: \[ 64 \]$/m);
    } finally {
      await sc?.finish();
      await bob.close();
    }
  });
});
