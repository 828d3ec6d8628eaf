/**
 * The shipped examples, run as shipped, talk to each other through a router on the default
 * ports: the Pure Data patch on stock Pd (no `-path`), clicked box by box, and
 * examples/client.ts started with the README's command.
 */
import assert from "node:assert/strict";
import { collect, PureData, readmeClientCommand, ROOT, waitFor, withDefaultRouter } from "./shipped.ts";

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
