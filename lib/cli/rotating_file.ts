/**
 * A log file rotated by size, written with asynchronous I/O only (for {@linkcode BufferedSink}).
 *
 * @module
 */

import type { LineWriter } from "./buffered_sink.ts";
import { concatBytes } from "../framing/concat.ts";

/** Options of a {@linkcode RotatingFile}. */
export interface RotatingFileOptions {
  /** A file is rotated before it would pass this size (unless one line alone is larger). */
  maxFileBytes: number;
  /** Rotated files kept: `path.1` (newest) to `path.N`. */
  maxFiles: number;
  /** Sync the data to the disk after each batch (default true), so a power cut loses at most the last interval. */
  syncData?: boolean;
  /** Called when a rotation fails; the lines then go on into the current file until the next batch. */
  onRotateError?: (error: unknown) => void;
}

/**
 * Appends batches of lines to `path`; before a batch would make the file larger than `maxFileBytes`, the lines that
 * fit are written, then `path` becomes `path.1` (`path.1` becomes `path.2`, and so on up to `maxFiles`, the oldest is
 * overwritten) and a new `path` is started. A file never holds part of a line. Every operation is asynchronous: the
 * writes, the data sync and the renames run in Deno's I/O threads, never on the event loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RotatingFile } from "./rotating_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const file = await RotatingFile.open(`${dir}/app.log`, { maxFileBytes: 8, maxFiles: 1 });
 * const line = (s: string) => new TextEncoder().encode(`${s}\n`);
 * await file.write([line("one"), line("two"), line("six")]);
 * await file.close();
 * assert.equal(await Deno.readTextFile(`${dir}/app.log.1`), "one\ntwo\n");
 * assert.equal(await Deno.readTextFile(`${dir}/app.log`), "six\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class RotatingFile implements LineWriter {
  /** The file written to. */
  readonly path: string;
  readonly #options: RotatingFileOptions;
  #file: Deno.FsFile;
  #sizeBytes: number;

  private constructor(path: string, file: Deno.FsFile, sizeBytes: number, options: RotatingFileOptions) {
    this.path = path;
    this.#file = file;
    this.#sizeBytes = sizeBytes;
    this.#options = options;
  }

  /**
   * Opens (or creates) the file for appending.
   *
   * @param path the current log file
   * @param options rotation size and count
   * @returns the open file
   * @throws {Deno.errors.PermissionDenied} and the like when it cannot be opened
   */
  static async open(path: string, options: RotatingFileOptions): Promise<RotatingFile> {
    const file = await Deno.open(path, { append: true, create: true });
    try {
      return new RotatingFile(path, file, (await file.stat()).size, options);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * Appends the lines, rotating as often as needed.
   *
   * @param lines complete lines, newline included
   */
  async write(lines: readonly Uint8Array[]): Promise<void> {
    const { maxFileBytes } = this.#options;
    let start = 0;
    let canRotate = true;
    while (start < lines.length) {
      let end = start;
      let bytes = 0;
      const limit = canRotate ? maxFileBytes : Infinity;
      while (end < lines.length && this.#sizeBytes + bytes + lines[end]!.length <= limit) {
        bytes += lines[end]!.length;
        end++;
      }
      if (end === start) {
        if (this.#sizeBytes > 0) {
          canRotate = await this.#rotate();
          continue;
        }
        bytes = lines[end]!.length; // one line larger than a whole file: it gets a file of its own
        end++;
      }
      await this.#writeAll(concat(lines, start, end, bytes));
      this.#sizeBytes += bytes;
      start = end;
    }
    if (this.#options.syncData ?? true) await this.#file.syncData();
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
  }

  /** Rotates; returns false (and reports) when it could not, having reopened the current file. */
  async #rotate(): Promise<boolean> {
    if (this.#options.syncData ?? true) await this.#file.syncData();
    this.#file.close();
    let rotated = true;
    try {
      for (let i = this.#options.maxFiles - 1; i > 0; i--) {
        await Deno.rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      }
      await Deno.rename(this.path, `${this.path}.1`);
    } catch (error) {
      rotated = false;
      this.#options.onRotateError?.(error);
    }
    this.#file = await Deno.open(this.path, { append: true, create: true });
    this.#sizeBytes = rotated ? 0 : (await this.#file.stat()).size;
    return rotated;
  }

  /** Closes the file. */
  close(): Promise<void> {
    this.#file.close();
    return Promise.resolve();
  }
}

function concat(lines: readonly Uint8Array[], start: number, end: number, bytes: number): Uint8Array {
  return end - start === 1 ? lines[start]! : concatBytes(lines.slice(start, end), bytes);
}
