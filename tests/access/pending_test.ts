/** A register whose declared password is being checked, over real sockets from several loopback addresses. */
import assert from "node:assert/strict";
import { parseGroupsFile } from "../../lib/access/groups_file.ts";
import { hashPassword, type PasswordHash, verifyPassword } from "../../lib/access/password_hash.ts";
import { encodeFrame } from "../../lib/framing/by_framing.ts";
import { encodeMessage } from "../../lib/osc/codec.ts";
import { NetClient, registerOnce, withRouter } from "./net_client.ts";

const CHEAP = { ln: 10, r: 8, p: 1 }; // the least the file accepts: ~2 ms
const GROUPS = parseGroupsFile(
  `[groups.band]\npassword = "${await hashPassword("band-pw", CHEAP)}"\n` +
    `[groups.band.users]\nconductor = "${await hashPassword("conductor-pw", CHEAP)}"\n`,
);

/** A check that takes `ms` (a slow scrypt on a Raspberry Pi), then the real comparison. */
const slowVerify = (ms: number) => async (hash: PasswordHash, password: Uint8Array) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return await verifyPassword(hash, password);
};

const frame = (address: string, ...args: (string | number)[]) =>
  encodeFrame(
    "length-prefix",
    encodeMessage({
      address,
      args: args.map((value) =>
        typeof value === "string" ? { type: "s" as const, value } : { type: "i" as const, value }
      ),
    }),
  );

Deno.test("pending register: packets beyond what is kept get one server_busy saying to wait, not silence", async () => {
  await withRouter({ groups: GROUPS, verifier: { verify: slowVerify(300) } }, async (port) => {
    const rcv = await NetClient.connect(port, "127.0.0.6");
    const sender = await NetClient.connect(port, "127.0.0.7");
    try {
      rcv.register("rcv", "band", "p", "band-pw");
      assert.equal(await rcv.outcome(), "joined");
      rcv.messages.length = 0;
      // The tester's pend.py: the register and 100 packets in one write, before any reply.
      const bytes = [frame("/oscrouter/register", "conductor", "conductor-pw", "band", "band-pw", "1")];
      for (let i = 0; i < 100; i++) bytes.push(frame("/seq", i));
      await writeAll(sender, bytes);
      const replies = await sender.waitFor(2);
      assert.equal(replies[0]!.address, "/oscrouter/error", "the drop is told first, while the check runs");
      const [code, message] = replies[0]!.args.map((a) => (a as { value: string }).value);
      assert.equal(code, "server_busy");
      assert.match(message!, /Packets sent before the register reply were dropped/);
      assert.match(message!, /wait for \/oscrouter\/register\/<user> before sending/);
      assert.equal(replies[1]!.address, "/oscrouter/register/conductor/1", "then the register succeeds");
      await rcv.waitFor(1 + 64); // the user list, and the 64 kept packets
      await new Promise((resolve) => setTimeout(resolve, 200));
      const got = rcv.messages.filter((m) => m.address === "/seq").map((m) => (m.args[0] as { value: number }).value);
      assert.deepEqual(got, Array.from({ length: 64 }, (_, i) => i), "the first 64, in order");
      const errors = sender.messages.filter((m) => m.address === "/oscrouter/error");
      assert.equal(errors.length, 1, "one error for the 36 dropped packets, not one each");
    } finally {
      await sender.close();
      await rcv.close();
    }
  });
});

/** Writes raw frames on a NetClient's socket in one go. */
function writeAll(client: NetClient, frames: Uint8Array[]): Promise<void> {
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    all.set(f, at);
    at += f.length;
  }
  return client.write(all);
}

Deno.test("check queue: a flood of wrong passwords from 20 addresses, 4 each, does not keep a musician out", async () => {
  const options = {
    groups: GROUPS,
    verifier: { verify: slowVerify(100) }, // 2 at once: 20 checks/s, like ~0.1 s scrypt on a small VM
    // The tester's flood stays under the backoff by spreading over many addresses; model that here.
    attempts: { failureThreshold: Infinity },
  };
  await withRouter(options, async (port) => {
    let stop = false;
    const counts: Record<string, number> = {};
    let n = 0;
    const flood = Promise.all(
      Array.from({ length: 20 * 4 }, async (_, i) => {
        const address = `127.1.0.${10 + (i % 20)}`;
        while (!stop) {
          const code = await registerOnce(port, address, ["eve", "band", "x", `guess-${n++}`]);
          counts[code] = (counts[code] ?? 0) + 1;
        }
      }),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the queue fills
      const started = performance.now();
      const musician = await registerOnce(port, "127.0.0.5", ["conductor", "band", "conductor-pw", "band-pw"]);
      const waitMs = performance.now() - started;
      console.log(`musician: ${musician} after ${waitMs.toFixed(0)} ms; flood so far ${JSON.stringify(counts)}`);
      // Before: 2 running + 64 waiting in one shared queue: server_busy every time.
      assert.equal(musician, "joined");
      // Her two checks (group and user password) each wait behind at most one check of each of the 20
      // addresses (and the 2 running): about 2 x 21 checks at 20/s, ~2.1 s.
      assert.ok(waitMs < 4000, `joined after ${waitMs.toFixed(0)} ms`);
    } finally {
      stop = true;
      await flood;
    }
    assert.ok((counts.wrong_group_password ?? 0) > 20, JSON.stringify(counts));
  });
});

Deno.test("pending register: an undeclared user's password is the one sent, not what the client sent next", async () => {
  // The server reads into one reused buffer: a register kept as a view of it while its group's
  // password is checked would take the bytes of the client's next read as the user's password.
  await withRouter({ groups: GROUPS, verifier: { verify: slowVerify(300) } }, async (port) => {
    const first = await NetClient.connect(port, "127.0.0.8");
    const second = await NetClient.connect(port, "127.0.0.9");
    try {
      first.register("guest", "band", "guest-pw", "band-pw");
      await new Promise((resolve) => setTimeout(resolve, 50)); // a read of its own, during the check
      await first.write(frame("/x".padEnd(400, "x"), "y".repeat(400)));
      assert.equal(await first.outcome(), "joined");
      second.register("guest", "band", "guest-pw", "band-pw");
      assert.equal(await second.outcome(), "joined", "the same user's second connection, with the same password");
    } finally {
      await second.close();
      await first.close();
    }
  });
});
