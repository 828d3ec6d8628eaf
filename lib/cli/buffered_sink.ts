/**
 * A log sink that never blocks the event loop: records are formatted into a bounded buffer and written by
 * asynchronous I/O in the background; what does not fit is dropped and counted, and the count is logged once the
 * writer has caught up.
 *
 * @module
 */

import type { LogRecord, Sink, TextFormatter } from "@logtape/logtape";

/** Where a {@linkcode BufferedSink} writes: one batch of complete lines at a time, never two at once. */
export interface LineWriter {
  /** Writes the lines, in order. A rejection loses them (they are counted as dropped). */
  write(lines: readonly Uint8Array[]): Promise<void>;
  /** Releases the destination after the last write. */
  close(): Promise<void>;
}

/** Options of a {@linkcode BufferedSink}. */
export interface BufferedSinkOptions {
  /**
   * Turns a record into one line, newline included.
   *
   * @ignore LogTape's `TextFormatter` names a type its package does not export, which `deno doc` cannot show.
   */
  formatter: TextFormatter;
  /** Bytes held at most, queued and being written together; lines beyond it are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /**
   * How long a line may wait before a write starts. 0 writes as soon as the event loop is free (stderr);
   * a file batches over an interval (default 0).
   */
  flushIntervalMs?: number;
  /** Called with each failed write's error, at most once until a write succeeds again. */
  onWriteError?: (error: unknown) => void;
}

/** What a {@linkcode BufferedSink} has done, for tests and status. */
export interface BufferedSinkStats {
  /** Lines written. */
  writtenLines: number;
  /** Lines dropped since the start: over the bound, or lost in a failed write. */
  droppedLines: number;
  /** Bytes queued or being written now. */
  bufferedBytes: number;
}

const encoder = new TextEncoder();

/**
 * A LogTape sink with a bounded buffer, written asynchronously by a {@linkcode LineWriter}.
 *
 * Logging a record costs formatting it and copying its bytes; the write happens later, off the event loop (Deno's file
 * and stdio writes run in its I/O threads). At most `maxBufferedBytes` are held: beyond that, lines are dropped and
 * counted, and a warning `N log lines dropped ...` is written with the next batch. `flush()` waits until every line
 * logged so far is written; disposing flushes, then closes the writer.
 *
 * @example Writing to memory
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LogRecord } from "@logtape/logtape";
 * import { BufferedSink } from "./buffered_sink.ts";
 *
 * const written: string[] = [];
 * const writer = {
 *   write: (lines: readonly Uint8Array[]) => {
 *     for (const line of lines) written.push(new TextDecoder().decode(line));
 *     return Promise.resolve();
 *   },
 *   close: () => Promise.resolve(),
 * };
 * const sink = new BufferedSink(writer, { formatter: (r: LogRecord) => `${r.message.join("")}\n` });
 * const record: LogRecord = {
 *   category: ["demo"], level: "info", message: ["hello"], rawMessage: "hello", timestamp: Date.now(), properties: {},
 * };
 * sink.sink(record);
 * await sink[Symbol.asyncDispose]();
 * assert.deepEqual(written, ["hello\n"]);
 * ```
 */
export class BufferedSink {
  /**
   * The function to give LogTape as a sink; it is disposed with the configuration.
   *
   * @ignore LogTape's `Sink` names a type its package does not export, which `deno doc` cannot show.
   */
  readonly sink: Sink & AsyncDisposable;
  readonly #writer: LineWriter;
  readonly #formatter: TextFormatter;
  readonly #maxBufferedBytes: number;
  readonly #flushIntervalMs: number;
  readonly #onWriteError: ((error: unknown) => void) | undefined;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writingBytes = 0;
  #writing: Promise<void> = Promise.resolve();
  #busy = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #scheduled = false;
  #unreported = 0;
  #failing = false;
  #disposed = false;
  #stats = { writtenLines: 0, droppedLines: 0 };

  /**
   * A sink writing through `writer`.
   *
   * @param writer the destination
   * @param options formatter, bound, flush interval
   */
  constructor(writer: LineWriter, options: BufferedSinkOptions) {
    this.#writer = writer;
    this.#formatter = options.formatter;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.#flushIntervalMs = options.flushIntervalMs ?? 0;
    this.#onWriteError = options.onWriteError;
    const sink = (record: LogRecord) => this.#log(record);
    this.sink = Object.assign(sink, { [Symbol.asyncDispose]: () => this[Symbol.asyncDispose]() });
  }

  /** Lines written and dropped so far, and the bytes held now. */
  get stats(): BufferedSinkStats {
    return { ...this.#stats, bufferedBytes: this.#queuedBytes + this.#writingBytes };
  }

  #log(record: LogRecord): void {
    if (this.#disposed) return;
    const line = encoder.encode(this.#formatter(record));
    if (this.#queuedBytes + this.#writingBytes + line.length > this.#maxBufferedBytes) {
      this.#stats.droppedLines++;
      this.#unreported++;
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#busy || this.#scheduled) return; // the running write loop takes it
    this.#scheduled = true;
    if (this.#flushIntervalMs > 0) {
      this.#timer = setTimeout(() => this.#startWriting(), this.#flushIntervalMs);
    } else {
      queueMicrotask(() => this.#startWriting());
    }
  }

  #startWriting(): void {
    this.#scheduled = false;
    this.#timer = undefined;
    if (this.#busy) return;
    this.#busy = true;
    this.#writing = this.#writeLoop();
  }

  async #writeLoop(): Promise<void> {
    try {
      await this.#writeAll();
    } finally {
      this.#busy = false; // synchronously after the last check for more: no line is left behind
    }
  }

  async #writeAll(): Promise<void> {
    while (this.#queue.length > 0 || this.#unreported > 0) {
      const lines = this.#queue;
      this.#writingBytes = this.#queuedBytes;
      this.#queue = [];
      this.#queuedBytes = 0;
      if (this.#unreported > 0) {
        lines.push(encoder.encode(this.#formatter(droppedRecord(this.#unreported, this.#maxBufferedBytes))));
        this.#unreported = 0;
      }
      try {
        await this.#writer.write(lines);
        this.#stats.writtenLines += lines.length;
        this.#failing = false;
      } catch (error) {
        this.#stats.droppedLines += lines.length;
        if (!this.#failing) this.#onWriteError?.(error);
        this.#failing = true;
      }
      this.#writingBytes = 0;
    }
  }

  /**
   * Writes everything logged so far now, without waiting for the interval.
   *
   * @returns when it is written (or its write failed)
   */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#startWriting();
    while (this.#busy) await this.#writing;
  }

  /** Flushes, then closes the writer; later records are ignored. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    await this.flush();
    this.#disposed = true;
    await this.#writer.close();
  }
}

function droppedRecord(count: number, maxBufferedBytes: number): LogRecord {
  const rawMessage =
    "{count} log lines dropped: they came faster than they could be written ({max} bytes held at most)";
  return {
    category: ["tcposcrouter", "logging"],
    level: "warning",
    message: [
      "",
      count,
      " log lines dropped: they came faster than they could be written (",
      maxBufferedBytes,
      " bytes held at most)",
    ],
    rawMessage,
    timestamp: Date.now(),
    properties: { count, max: maxBufferedBytes },
  };
}
