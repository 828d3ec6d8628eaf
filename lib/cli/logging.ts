/**
 * Logging setup for the application (libraries only call `getLogger`): stderr always,
 * and a size-rotated file with `--log-dir`.
 *
 * Logging never blocks the event loop: each sink formats a record into a bounded buffer (1 MiB) that asynchronous
 * I/O drains (stderr at once, the file every 200 ms); lines beyond the bound are dropped and counted. Lines a client
 * can cause (connections, registers, leaves, refusals) are rate-limited per category by a {@linkcode FloodFilter}.
 * Values interpolated into text lines are escaped ({@linkcode escapeLogText}), so no client can forge a line.
 *
 * @module
 */

import {
  configure,
  dispose,
  getLogger,
  getTextFormatter,
  type LogLevel as LogTapeLevel,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import { concatBytes } from "../framing/concat.ts";
import { BufferedSink, type LineWriter } from "./buffered_sink.ts";
import { FloodFilter, type FloodLimit } from "./flood_filter.ts";
import { escapeJsonLine, escapeLogText } from "./log_escape.ts";
import type { LogOptions } from "./options.ts";
import { RotatingFile } from "./rotating_file.ts";
import { errorMessage } from "../util/error_text.ts";

/** Bytes each sink holds at most before it drops lines (and counts them). */
const MAX_BUFFERED_LOG_BYTES = 1024 * 1024;
/** How long a line may wait in the file sink's buffer before a write starts. */
const FILE_FLUSH_INTERVAL_MS = 200;
/**
 * The categories whose lines a client can cause, rate-limited under a flood: a burst, then a rate, per category and
 * level. Registers and leaves (router) matter most to operators: a whole venue reconnecting at once fits their burst.
 */
const FLOOD_LIMITS: readonly FloodLimit[] = [
  { category: ["tcposcrouter", "router"], burst: 1000, perSecond: 100 },
  { category: ["tcposcrouter", "connection"], burst: 200, perSecond: 50 },
  { category: ["tcposcrouter", "server"], burst: 200, perSecond: 50 },
  { category: ["tcposcrouter", "websocket"], burst: 200, perSecond: 50 },
  { category: ["tcposcrouter", "http"], burst: 200, perSecond: 50 },
];

/**
 * The log directory cannot be used. The message says why in the router's words (never Deno's
 * permission flags, which the router does not take) and what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const error = new LogDirError("/etc/passwd", new Deno.errors.AlreadyExists("File exists (os error 17)"));
 * assert.equal(error.message, "cannot write logs to '/etc/passwd': it is a file, not a directory; choose a writable directory with --log-dir");
 * ```
 */
export class LogDirError extends Error {
  /**
   * A log directory that cannot be written.
   *
   * @param dir the directory
   * @param cause why
   */
  constructor(readonly dir: string, cause: unknown) {
    super(`cannot write logs to '${dir}': ${logDirReason(cause)}; choose a writable directory with --log-dir`, {
      cause,
    });
    this.name = "LogDirError";
  }
}

/** Why a log directory failed, without Deno's wording (`--allow-all`, `os error 17`). */
function logDirReason(cause: unknown): string {
  if (cause instanceof Deno.errors.NotCapable) {
    return "the router never writes to system paths such as /proc, /sys or /dev";
  }
  if (cause instanceof Deno.errors.AlreadyExists) return "it is a file, not a directory";
  if (cause instanceof Deno.errors.NotADirectory) return "part of the path is a file, not a directory";
  if (cause instanceof Deno.errors.PermissionDenied) {
    return "permission denied (the router's user may not create or write files there)";
  }
  if (cause instanceof Deno.errors.IsADirectory) return "tcposcrouter.log in it is a directory, not a file";
  // Anything else: the system's reason, without Deno's "(os error N): mkdir '...'" suffix.
  const message = errorMessage(cause);
  return message.replace(/\s*\(os error \d+\).*$/s, "").toLowerCase() || "unknown error";
}

/**
 * Property values as plain text: strings unquoted, so log lines read naturally, and escaped, so a value cannot start
 * a line or send a control sequence to a terminal (the message template itself is ours).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { textFormatter } from "./logging.ts";
 *
 * const line = textFormatter({
 *   category: ["tcposcrouter", "router"], level: "warning", rawMessage: "bad packet ({address})",
 *   message: ["bad packet (", "/x\n[INF] fake\x1b[2J", ")"], timestamp: 0, properties: {},
 * });
 * assert.ok(line.endsWith("[WRN] tcposcrouter·router: bad packet (/x\\n[INF] fake\\x1b[2J)\n"));
 * ```
 *
 * @ignore LogTape's `TextFormatter` names a type its package does not export, which `deno doc` cannot show.
 */
export const textFormatter: TextFormatter = getTextFormatter({ value: plain });

function plain(value: unknown): string {
  return escapeLogText(typeof value === "string" ? value : Deno.inspect(value));
}

/**
 * One JSON object per line; the message reads as in text mode (values escaped), the properties stay structured (JSON
 * escapes them; DEL, C1 and Unicode line separators are escaped as well).
 *
 * @param record the record
 * @returns one line of JSON
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonLinesFormatter } from "./logging.ts";
 *
 * const line = jsonLinesFormatter({
 *   category: ["tcposcrouter", "router"], level: "info", rawMessage: "{user} left",
 *   message: ["", "ana\u009b", " left"], timestamp: 0, properties: { user: "ana\u009b" },
 * });
 * const parsed = JSON.parse(line);
 * assert.equal(parsed.message, "ana\\u009b left");
 * assert.equal(parsed.properties.user, "ana\u009b");
 * ```
 *
 * @ignore LogTape's `LogRecord` names a type its package does not export, which `deno doc` cannot show.
 */
export function jsonLinesFormatter(record: LogRecord): string {
  return escapeJsonLine(JSON.stringify({
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message: record.message.map((part, i) => i % 2 === 0 ? String(part) : plain(part)).join(""),
    properties: record.properties,
  })) + "\n";
}

/** Writes to stderr with Deno's asynchronous write: a full pipe (a slow journal) delays lines, never the loop. */
const stderrWriter: LineWriter = {
  async write(lines: readonly Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const line of lines) bytes += line.length;
    const all = concatBytes(lines, bytes);
    let written = 0;
    while (written < all.length) written += await Deno.stderr.write(all.subarray(written));
  },
  close: () => Promise.resolve(),
};

/**
 * Reports a failing file as a log line: it still reaches stderr (the journal), through the same non-blocking sink.
 * Called at most once per streak of failures, from the write loop (never from inside a sink).
 */
function reportFailure(action: string, consequence: string): (error: unknown) => void {
  return (error) => {
    getLogger(["tcposcrouter", "logging"]).error("{action} failed: {error}; {consequence}", {
      action,
      error: errorMessage(error),
      consequence,
    });
  };
}

/**
 * Configures LogTape for the process.
 *
 * @param options level, format, directory and rotation
 * @returns the log file's path, if any
 * @throws {LogDirError} when the directory cannot be created or written
 */
export async function setupLogging(options: LogOptions): Promise<string | undefined> {
  const formatter = options.format === "json" ? jsonLinesFormatter : textFormatter;
  const stderr = new BufferedSink(stderrWriter, {
    formatter,
    maxBufferedBytes: MAX_BUFFERED_LOG_BYTES,
    // Failures of stderr itself are counted (stats.droppedLines) and have nowhere else to be told.
  });
  const sinks: Record<string, Sink> = { stderr: stderr.sink };
  let path: string | undefined;
  if (options.dir !== undefined) {
    path = `${options.dir.replace(/[\\/]+$/, "")}/tcposcrouter.log`;
    let file: RotatingFile;
    try {
      await Deno.mkdir(options.dir, { recursive: true });
      // Fail now, with a clear message, rather than on the first log line.
      file = await RotatingFile.open(path, {
        maxFileBytes: options.maxFileBytes,
        maxFiles: options.maxFiles,
        onRotateError: reportFailure(`Rotating ${path}`, "lines go on into it until the next rotation"),
      });
    } catch (error) {
      throw new LogDirError(options.dir, error);
    }
    // Buffered, written and synced off the event loop every 200 ms: a crash or a power cut loses at most that.
    const fileSink = new BufferedSink(file, {
      formatter,
      maxBufferedBytes: MAX_BUFFERED_LOG_BYTES,
      flushIntervalMs: FILE_FLUSH_INTERVAL_MS,
      onWriteError: reportFailure(`Writing to ${path}`, "log lines are being lost (is the disk full?)"),
    });
    sinks.file = fileSink.sink;
  }
  const lowestLevel: LogTapeLevel = options.level;
  const flood = new FloodFilter({ limits: FLOOD_LIMITS });
  await configure({
    reset: true,
    sinks,
    filters: { flood: Object.assign(flood.filter, { [Symbol.dispose]: () => flood[Symbol.dispose]() }) },
    loggers: [
      { category: ["tcposcrouter"], lowestLevel, sinks: Object.keys(sinks), filters: ["flood"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
  return path;
}

/** Reports what the flood filter still counts, flushes and closes the sinks. */
export async function closeLogging(): Promise<void> {
  await dispose();
}
