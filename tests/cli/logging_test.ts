/** Logging: bounded non-blocking sinks, size rotation, the flood filter, and escaped values. */
import assert from "node:assert/strict";
import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";
import { BufferedSink, type LineWriter } from "../../lib/cli/buffered_sink.ts";
import { FloodFilter } from "../../lib/cli/flood_filter.ts";
import { escapeLogText } from "../../lib/cli/log_escape.ts";
import { jsonLinesFormatter, textFormatter } from "../../lib/cli/logging.ts";
import { RotatingFile } from "../../lib/cli/rotating_file.ts";
import { TestClient } from "../server/test_client.ts";

const decoder = new TextDecoder();

function record(message: string, values: Record<string, unknown> = {}, category = ["tcposcrouter", "test"]): LogRecord {
  const parts: unknown[] = [];
  let rest = message;
  for (;;) {
    const m = rest.match(/\{(\w+)\}/);
    if (!m) break;
    parts.push(rest.slice(0, m.index), values[m[1]!]);
    rest = rest.slice(m.index! + m[0].length);
  }
  parts.push(rest);
  return { category, level: "info", message: parts, rawMessage: message, timestamp: Date.now(), properties: values };
}

/** A writer whose writes wait until released: a disk or a pipe that does not keep up. */
class SlowWriter implements LineWriter {
  lines: string[] = [];
  writes = 0;
  #release: (() => void)[] = [];
  held = true;

  write(lines: readonly Uint8Array[]): Promise<void> {
    this.writes++;
    const done = () => this.lines.push(...lines.map((l) => decoder.decode(l)));
    if (!this.held) {
      done();
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.#release.push(() => {
        done();
        resolve();
      })
    );
  }

  release(): void {
    this.held = false;
    for (const r of this.#release.splice(0)) r();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const plainText = (r: LogRecord) => `${r.message.join("")}\n`;

Deno.test("BufferedSink: logging returns at once while a write is stuck; beyond the bound lines are dropped and counted", async () => {
  const writer = new SlowWriter();
  const sink = new BufferedSink(writer, { formatter: plainText, maxBufferedBytes: 1000 });
  const line = "x".repeat(99); // 100 bytes with the newline
  const started = performance.now();
  for (let i = 0; i < 50; i++) sink.sink(record(`${i} ${line}`.slice(0, 99)));
  assert.ok(performance.now() - started < 100, "logging waited for the writer");
  await Promise.resolve();
  assert.equal(writer.writes, 1, "one write in flight holds the first lines");
  assert.equal(sink.stats.droppedLines, 40, "10 lines of 100 bytes fit in 1000 bytes");
  assert.ok(sink.stats.bufferedBytes <= 1000);
  writer.release();
  await sink.flush();
  assert.equal(writer.lines.length, 11, "10 lines, then the count of the dropped ones");
  assert.match(writer.lines[10]!, /^40 log lines dropped: they came faster than they could be written \(1000 bytes/);
  assert.equal(sink.stats.bufferedBytes, 0);
  sink.sink(record("after"));
  await sink[Symbol.asyncDispose]();
  assert.equal(writer.lines.at(-1), "after\n", "dispose flushes");
  sink.sink(record("ignored after dispose"));
  assert.equal(writer.lines.at(-1), "after\n");
});

Deno.test("BufferedSink: the bound counts the lines being written too, not only those queued behind them", async () => {
  const writer = new SlowWriter();
  const sink = new BufferedSink(writer, { formatter: plainText, maxBufferedBytes: 1000 });
  const line = (i: number) => `${i} ${"x".repeat(99)}`.slice(0, 99); // 100 bytes with the newline
  for (let i = 0; i < 10; i++) sink.sink(record(line(i)));
  await Promise.resolve();
  assert.equal(writer.writes, 1, "the 10 lines are being written (the disk is stalled)");
  for (let i = 10; i < 15; i++) sink.sink(record(line(i)));
  assert.equal(sink.stats.droppedLines, 5, "1000 bytes are held already: the next lines are dropped");
  assert.equal(sink.stats.bufferedBytes, 1000);
  writer.release();
  await sink[Symbol.asyncDispose]();
  assert.equal(writer.lines.length, 11, "the 10 lines, then the count of the dropped ones");
});

Deno.test("BufferedSink: a file sink batches over its interval; lines logged meanwhile go in one write", async () => {
  const writer = new SlowWriter();
  writer.release();
  const sink = new BufferedSink(writer, { formatter: plainText, flushIntervalMs: 50 });
  for (let i = 0; i < 100; i++) sink.sink(record(`line ${i}`));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(writer.writes, 0, "nothing written before the interval");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(writer.writes, 1);
  assert.equal(writer.lines.length, 100);
  await sink[Symbol.asyncDispose]();
});

Deno.test("BufferedSink: a failing write is reported once, its lines counted as dropped, and logging goes on", async () => {
  let fail = true;
  const errors: unknown[] = [];
  const written: string[] = [];
  const writer: LineWriter = {
    write(lines) {
      if (fail) return Promise.reject(new Error("No space left on device"));
      written.push(...lines.map((l) => decoder.decode(l)));
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const sink = new BufferedSink(writer, { formatter: plainText, onWriteError: (e) => errors.push(e) });
  sink.sink(record("a"));
  await sink.flush();
  sink.sink(record("b"));
  await sink.flush();
  assert.equal(errors.length, 1, "reported once while failing");
  assert.equal(sink.stats.droppedLines, 2);
  fail = false;
  sink.sink(record("c"));
  await sink[Symbol.asyncDispose]();
  assert.deepEqual(written, ["c\n"]);
});

Deno.test("RotatingFile: rotates before a batch passes the size, never splits a line, keeps maxFiles", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.log`;
    const file = await RotatingFile.open(path, { maxFileBytes: 100, maxFiles: 2, syncData: false });
    const line = (i: number) => new TextEncoder().encode(`line ${String(i).padStart(3, "0")} ${"x".repeat(20)}\n`); // 30 B
    await file.write(Array.from({ length: 10 }, (_, i) => line(i))); // 3 lines per file
    await file.write([line(10), line(11), line(12)]);
    await file.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["t.log", "t.log.1", "t.log.2"]);
    for (const name of names) {
      const text = await Deno.readTextFile(`${dir}/${name}`);
      assert.ok(text.length <= 100, `${name} has ${text.length} bytes`);
      assert.match(text, /^(line \d{3} x{20}\n)+$/, `${name} holds whole lines only`);
    }
    assert.equal(await Deno.readTextFile(path), new TextDecoder().decode(line(12)));
    assert.match(await Deno.readTextFile(`${path}.1`), /^line 009.*\nline 010.*\nline 011/);
    // Reopening appends to what is there.
    const again = await RotatingFile.open(path, { maxFileBytes: 100, maxFiles: 2, syncData: false });
    await again.write([line(13)]);
    await again.close();
    assert.match(await Deno.readTextFile(path), /^line 012.*\nline 013.*\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RotatingFile: a line larger than a whole file gets a file of its own", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await RotatingFile.open(`${dir}/t.log`, { maxFileBytes: 10, maxFiles: 3, syncData: false });
    const enc = (s: string) => new TextEncoder().encode(s);
    await file.write([enc("ab\n"), enc(`${"y".repeat(30)}\n`), enc("cd\n")]);
    await file.close();
    assert.equal(await Deno.readTextFile(`${dir}/t.log.2`), "ab\n");
    assert.equal(await Deno.readTextFile(`${dir}/t.log.1`), `${"y".repeat(30)}\n`);
    assert.equal(await Deno.readTextFile(`${dir}/t.log`), "cd\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FloodFilter: a burst, then the rate, then one count line a second in the same category", async () => {
  let now = 0;
  const lines: string[] = [];
  const flood = new FloodFilter({
    limits: [{ category: ["tcposcrouter", "connection"], burst: 5, perSecond: 2 }],
    now: () => now,
  });
  await configure({
    reset: true,
    sinks: { memory: (r: LogRecord) => lines.push(`${r.level} ${r.category.join(".")}: ${r.message.join("")}`) },
    filters: { flood: flood.filter },
    loggers: [
      { category: ["tcposcrouter"], lowestLevel: "debug", sinks: ["memory"], filters: ["flood"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    const connection = getLogger(["tcposcrouter", "connection"]);
    const main = getLogger(["tcposcrouter", "main"]);
    for (let i = 0; i < 100; i++) connection.info("Connection {i}", { i });
    for (let i = 0; i < 10; i++) connection.warn("Warning {i}", { i });
    for (let i = 0; i < 10; i++) main.info("Main {i}", { i });
    for (let i = 0; i < 10; i++) connection.debug("Debug {i}", { i });
    assert.equal(lines.filter((l) => l.startsWith("info tcposcrouter.connection")).length, 5, "the burst");
    assert.equal(lines.filter((l) => l.startsWith("warning")).length, 5, "warnings have a bucket of their own");
    assert.equal(lines.filter((l) => l.includes("Main")).length, 10, "other categories are not limited");
    assert.equal(lines.filter((l) => l.includes("Debug")).length, 10, "debug is asked for, never limited");
    now = 1000; // two tokens more
    for (let i = 0; i < 10; i++) connection.info("Later {i}", { i });
    assert.equal(lines.filter((l) => l.includes("Later")).length, 2);
    assert.equal(flood.suppressedNow, 95 + 5 + 8);
    lines.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the report timer
    assert.deepEqual(lines.sort(), [
      "info tcposcrouter.connection: 103 similar lines suppressed in the last second",
      "warning tcposcrouter.connection: 5 similar lines suppressed in the last second",
    ]);
    assert.equal(flood.suppressedNow, 0);
  } finally {
    flood[Symbol.dispose]();
    await reset();
  }
});

Deno.test("FloodFilter: disposing reports what is still counted", async () => {
  const lines: string[] = [];
  const flood = new FloodFilter({ limits: [{ category: ["tcposcrouter", "router"], burst: 1, perSecond: 1 }] });
  await configure({
    reset: true,
    sinks: { memory: (r: LogRecord) => lines.push(r.message.join("")) },
    filters: { flood: flood.filter },
    loggers: [
      { category: ["tcposcrouter"], lowestLevel: "info", sinks: ["memory"], filters: ["flood"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    const router = getLogger(["tcposcrouter", "router"]);
    router.info("ana@band registered");
    router.info("bob@band registered");
    router.info("eve@band registered");
    flood[Symbol.dispose]();
    assert.deepEqual(lines, ["ana@band registered", "2 similar lines suppressed in the last second"]);
  } finally {
    await reset();
  }
});

const FORGED = "x\n2026-01-01 00:00:00.000 +00:00 [INF] tcposcrouter·router: fake@band registered from 10.0.0.1 " +
  "(length-prefix)\x1b[2J\x1b]0;owned\x07\u009b31m\r\t\x00\x7f\u2028\u202e";

Deno.test("text log: a value with a newline, a fake line and escapes gives one line with visible escapes", () => {
  const line = textFormatter(record("malformed_packet from {peer}: {detail} ({address})", {
    peer: "127.0.0.1:5\n",
    detail: new Error("bad\nthing"),
    address: FORGED,
  }));
  assert.equal(line.indexOf("\n"), line.length - 1, `one line: ${JSON.stringify(line)}`);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line.slice(0, -1), /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
  assert.ok(
    line.includes(
      "(x\\n2026-01-01 00:00:00.000 +00:00 [INF] tcposcrouter·router: fake@band registered from 10.0.0.1 " +
        "(length-prefix)\\x1b[2J\\x1b]0;owned\\x07\\u009b31m\\r\\t\\x00\\x7f\\u2028\\u202e)",
    ),
    line,
  );
  assert.match(line, /from 127\.0\.0\.1:5\\n: /);
  assert.match(line, /Error: bad\\nthing/);
});

Deno.test("json log: stays one line of JSON that parses back to the exact values", () => {
  const line = jsonLinesFormatter(record("{peer} sent {address}", { peer: "p", address: FORGED }));
  assert.equal(line.indexOf("\n"), line.length - 1);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line.slice(0, -1), /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
  const parsed = JSON.parse(line);
  assert.equal(parsed.properties.address, FORGED, "the structured value is exact");
  assert.equal(parsed.message, `p sent ${escapeLogText(FORGED)}`, "the message reads as in text mode");
});

Deno.test("escapeLogText: ordinary text, UTF-8 names and backslashes are kept", () => {
  for (const text of ["ana@band", "Zoë@Bänd 🎹", "C:\\logs\\tcposcrouter.log", "[::1]:5000"]) {
    assert.equal(escapeLogText(text), text);
  }
});

Deno.test("stderr: a router whose stderr pipe is never read keeps serving (its writes wait, the loop does not)", async () => {
  const { TestClient } = await import("../server/test_client.ts");
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      new URL("../../main.ts", import.meta.url).pathname,
      "--osc-port",
      String(port),
      "--disable-osc11",
      "--host",
      "127.0.0.1",
      "--log-level",
      "debug", // a line per packet, never rate-limited: the pipe (64 KiB) fills
    ],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped", // and never read until the end
  }).spawn();
  try {
    let a: TestClient | undefined;
    for (let i = 0; i < 100 && a === undefined; i++) {
      a = await TestClient.connect(port).catch(() => undefined);
      if (a === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(a, "the router did not start");
    const b = await TestClient.connect(port);
    try {
      await a.register("ana");
      await b.register("bob");
      await a.nextMessage(); // bob joined
      for (let i = 0; i < 2000; i++) { // ~ 200 KB of debug lines, three times what the pipe holds
        await a.sendMsg("/note", { type: "i", value: i });
        assert.equal((await b.nextMessage(5000)).address, "/note");
      }
    } finally {
      await a.close();
      await b.close();
    }
  } finally {
    child.kill("SIGTERM");
    const drained = new Response(child.stderr).text();
    await child.status;
    assert.match(await drained, /log lines dropped|sent \/note/);
  }
});

Deno.test("main.ts --log-dir: a connect flood is logged as a burst and a count, and every line is flushed at exit", async () => {
  const { RouterProcess } = await import("../hostile/router_process.ts");
  const router = await RouterProcess.start({
    http: false,
    stderr: "null",
    args: [
      "--max-connections",
      "1000",
      "--max-connections-per-address",
      "1000",
      "--max-unregistered-per-address",
      "1000",
    ],
  });
  try {
    for (let i = 0; i < 400; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.oscPort });
      conn.close();
    }
    const client = await TestClient.connect(router.oscPort);
    await client.register("ana");
    await client.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    assert.equal((await router.stop()).code, 0);
  }
  const log = await router.logText();
  await router.cleanUp();
  // 400 connections log 800 lines (opened, closed); the bucket lets 200 through, then 50 a second.
  const lines = log.match(/\[INF\] tcposcrouter·connection: (Connection from|Closing)/g)?.length ?? 0;
  assert.ok(lines >= 200 && lines < 300, `${lines} connection lines for 400 connections`);
  assert.match(log, /\[INF\] tcposcrouter·connection: \d+ similar lines suppressed in the last second/);
  assert.match(log, /ana@band registered from/, "the router category has a bucket of its own");
  // The last line of main.ts reaches the file, then (if any are still counted) the count the filter reports at close.
  assert.match(log, /\[INF\] tcposcrouter·main: Stopped\n(.*\d+ similar lines suppressed in the last second\n)?$/);
});

Deno.test("RotatingFile: a rotation that fails is reported and the lines still reach a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const errors: unknown[] = [];
    const path = `${dir}/t.log`;
    const file = await RotatingFile.open(path, {
      maxFileBytes: 10,
      maxFiles: 2,
      syncData: false,
      onRotateError: (e) => errors.push(e),
    });
    const enc = (s: string) => new TextEncoder().encode(s);
    await file.write([enc("first\n")]);
    await Deno.remove(path); // e.g. an operator's tool moved it away: the rename to t.log.1 fails
    await file.write([enc("second\n"), enc("third\n")]);
    await file.close();
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(path), "second\nthird\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
