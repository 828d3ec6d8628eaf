/**
 * Soak (deno task test:soak, about 60 s; SOAK_SECONDS changes it): every kind of hostile or
 * careless client at once against one router, while a well-behaved pair exchanges numbered
 * messages. Nothing the pair sends may be lost, and memory must stay bounded.
 */
import assert from "node:assert/strict";
import fc from "npm:fast-check@^4.10.2";
import { encodeLengthPrefixFrame } from "../../lib/framing/length_prefix.ts";
import { encodePacket } from "../../lib/osc/codec.ts";
import type { OscMessage } from "../../lib/osc/types.ts";
import { packet as anyPacket } from "../osc/arbitrary.ts";
import { s, TestClient } from "../server/test_client.ts";
import { registerOnce } from "../access/net_client.ts";

const SECONDS = Number(Deno.env.get("SOAK_SECONDS") ?? 60);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test(`soak: ${SECONDS} s of mixed abuse; the good pair loses nothing, memory stays bounded`, async () => {
  const maxQueueBytes = 256 * 1024;
  const router = await startRouter([
    "--max-queue-bytes",
    String(maxQueueBytes),
    "--max-packet-bytes",
    String(64 * 1024),
    "--max-connections",
    "400",
    "--max-registers-per-second", // the churner registers as fast as it can from 127.0.0.1
    "1000000",
  ]);
  const { lp, slip } = router;
  try {
    const a = await TestClient.connect(lp);
    const b = await TestClient.connect(slip, "slip");
    await a.register("a", "stage");
    await b.register("b", "stage");
    const end = Date.now() + SECONDS * 1000;
    const running = () => Date.now() < end;
    const rss: number[] = [];
    const counts = { fuzz: 0, churn: 0, garbage: 0, guesses: 0, slow: 0 };

    const fuzzer = async (port: number, framing: "length-prefix" | "slip") => {
      const gen = fc.sample(fc.oneof(anyPacket.map(encodePacket), fc.uint8Array({ minLength: 1, maxLength: 200 })), {
        numRuns: 5000,
      });
      while (running()) {
        const f = await TestClient.connect(port, framing);
        try {
          await f.register(`fuzz${counts.fuzz}`, "stage");
          for (let i = 0; i < 200 && running(); i++) {
            await f.send(gen[counts.fuzz++ % gen.length]!);
            if (i % 20 === 0) await sleep(1);
          }
        } catch {
          // a fuzz packet may have broken the framing: the router closed us; go on
        } finally {
          await f.close();
        }
      }
    };
    const churner = async () => {
      while (running()) {
        const c = await TestClient.connect(lp);
        await c.register(`churn${counts.churn++}`, "stage");
        await c.close();
        await sleep(2);
      }
    };
    const garbage = async () => {
      while (running()) {
        const g = await TestClient.connect(counts.garbage % 2 ? slip : lp);
        await g.sendRaw(crypto.getRandomValues(new Uint8Array(1 + (counts.garbage++ % 500)))).catch(() => {});
        await g.close();
        await sleep(5);
      }
    };
    const guesser = async () => {
      // From its own address: the backoff locks the guesser's address out, never the others'.
      while (running()) {
        await registerOnce(lp, "127.0.0.2", ["a", "stage", `guess${counts.guesses++}`, "gpw"]).catch(() => "");
      }
    };
    const slowConsumer = async () => {
      while (running()) {
        // Registers, then never reads: a big sender floods it until the router cuts it off.
        const slowConn = await Deno.connect({ hostname: "127.0.0.1", port: lp });
        await slowConn.write(encodeLengthPrefixFrame(encodePacket({
          address: "/oscrouter/register",
          args: [s(`slow${counts.slow++}`), s("p"), s("stage"), s("gpw")],
        })));
        const big = await TestClient.connect(lp);
        await big.register(`big${counts.slow}`, "stage");
        const blob = { type: "b" as const, value: new Uint8Array(32 * 1024) };
        for (let i = 0; i < 400 && running(); i++) {
          await big.sendMsg("/big", blob);
          await sleep(2);
        }
        await big.close();
        slowConn.close();
      }
    };
    const pair = async () => {
      let sent = 0, received = 0, expected = 0;
      while (running()) {
        await a.sendMsg("/seq", { type: "i", value: sent++ });
        await sleep(5);
        while (b.queued > 0) {
          const m = await b.nextMessage().catch(() => undefined as OscMessage | undefined);
          if (m?.address !== "/seq") continue;
          assert.deepEqual(m.args[0], { type: "i", value: expected }, "the pair's messages arrive in order, none lost");
          expected++;
          received++;
        }
      }
      const deadline = Date.now() + 5000;
      while (received < sent && Date.now() < deadline) {
        const m = await b.nextMessage();
        if (m.address !== "/seq") continue;
        assert.deepEqual(m.args[0], { type: "i", value: expected++ });
        received++;
      }
      return { sent, received };
    };
    const sampler = async () => {
      while (running()) {
        rss.push(routerRss(router.process.pid));
        await sleep(500);
      }
    };

    const [result] = await Promise.all([
      pair(),
      fuzzer(lp, "length-prefix"),
      fuzzer(slip, "slip"),
      churner(),
      garbage(),
      guesser(),
      slowConsumer(),
      sampler(),
    ]);
    await a.close();
    await b.close();
    const mb = (n: number) => Math.round(n / 1024 / 1024);
    const maxRss = Math.max(...rss);
    const lastRss = rss.at(-1)!;
    console.log(
      JSON.stringify({
        seconds: SECONDS,
        ...result,
        ...counts,
        routerRssMaxMB: mb(maxRss),
        routerRssEndMB: mb(lastRss),
      }),
    );
    assert.equal(result.received, result.sent, "the well-behaved pair lost messages");
    assert.ok(result.sent > SECONDS * 50, `the pair only got ${result.sent} messages through`);
    // Bounded: the baseline (~50 MB) plus what the limits allow in flight, far below 400 x 256 KiB.
    assert.ok(maxRss < 250 * 1024 * 1024, `router RSS reached ${mb(maxRss)} MB`);
    // And no growth without bound: the second half peaks no higher than the first half plus a margin.
    const half = Math.floor(rss.length / 2);
    const firstHalf = Math.max(...rss.slice(0, half)), secondHalf = Math.max(...rss.slice(half));
    assert.ok(
      secondHalf < firstHalf + 64 * 1024 * 1024,
      `RSS kept growing: ${mb(firstHalf)} then ${mb(secondHalf)} MB`,
    );
  } finally {
    router.process.kill("SIGTERM");
    assert.equal((await router.process.status).code, 0, "the router exits cleanly after the soak");
  }
});

function routerRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/** The real router, as an operator starts it, on free ports. */
async function startRouter(extra: string[]) {
  const free = () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = l.addr.port;
    l.close();
    return port;
  };
  const lp = free(), slip = free();
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      new URL("../../main.ts", import.meta.url).pathname,
      "--host",
      "127.0.0.1",
      "--osc-port",
      String(lp),
      "--osc11-port",
      String(slip),
      "--log-level",
      "error",
      ...extra,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 400; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port: slip })).close();
      return { process, lp, slip };
    } catch {
      await sleep(25);
    }
  }
  throw new Error("the router did not start");
}
