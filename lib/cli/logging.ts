/**
 * Logging setup for the application (libraries only call `getLogger`): stderr always,
 * and a size-rotated file with `--log-dir`.
 *
 * @module
 */

import { getRotatingFileSink } from "@logtape/file";
import {
  configure,
  dispose,
  getStreamSink,
  getTextFormatter,
  type LogLevel as LogTapeLevel,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import type { LogOptions } from "./options.ts";

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
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.replace(/\s*\(os error \d+\).*$/s, "").toLowerCase() || "unknown error";
}

/** Property values as plain text: strings unquoted, so log lines read naturally. */
const textFormatter: TextFormatter = getTextFormatter({ value: plain });

function plain(value: unknown): string {
  return typeof value === "string" ? value : Deno.inspect(value);
}

/** One JSON object per line; the message reads as in text mode, the values stay structured. */
function jsonLinesFormatter(record: LogRecord): string {
  return JSON.stringify({
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message: record.message.map((part, i) => i % 2 === 0 ? String(part) : plain(part)).join(""),
    properties: record.properties,
  }) + "\n";
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
  const sinks: Record<string, Sink> = {
    stderr: getStreamSink(Deno.stderr.writable, { formatter }),
  };
  let path: string | undefined;
  if (options.dir !== undefined) {
    path = `${options.dir.replace(/[\\/]+$/, "")}/tcposcrouter.log`;
    try {
      await Deno.mkdir(options.dir, { recursive: true });
      // Fail now, with a clear message, rather than on the first log line.
      const probe = await Deno.open(path, { append: true, create: true });
      probe.close();
    } catch (error) {
      throw new LogDirError(options.dir, error);
    }
    sinks.file = getRotatingFileSink(path, {
      formatter,
      maxSize: options.maxFileBytes,
      maxFiles: options.maxFiles,
      bufferSize: 0, // every line reaches the disk at once: a crash or a power cut loses nothing
    });
  }
  const lowestLevel: LogTapeLevel = options.level;
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["tcposcrouter"], lowestLevel, sinks: Object.keys(sinks) },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
  return path;
}

/** Flushes and closes the sinks. */
export async function closeLogging(): Promise<void> {
  await dispose();
}
