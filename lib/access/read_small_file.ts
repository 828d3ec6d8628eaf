/**
 * Reads a small configuration file (the groups file, a token file) with a size cap, so that a
 * path pointing at `/dev/zero`, a FIFO or a huge file cannot make the router hang or fill its
 * memory on start or on SIGHUP.
 *
 * @module
 */

/** A file that is not a regular file, or larger than allowed. Its message names neither path nor content. */
export class SmallFileError extends Error {
  /**
   * A file that cannot be read as a small file.
   *
   * @param message what is wrong and what to do
   */
  constructor(message: string) {
    super(message);
    this.name = "SmallFileError";
  }
}

/**
 * Reads a text file of at most `maxBytes` bytes: the path (after following links) must be a
 * regular file, and at most `maxBytes + 1` bytes are ever read.
 *
 * @param path the file
 * @param maxBytes the largest size accepted
 * @returns the file's text (UTF-8)
 * @throws {SmallFileError} when the path is not a regular file or is larger than `maxBytes`
 * @throws {Deno.errors.NotFound} and the other errors of opening the file, unchanged
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSmallTextFile, SmallFileError } from "./read_small_file.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello\n");
 * assert.equal(await readSmallTextFile(path, 64), "hello\n");
 * await assert.rejects(readSmallTextFile(path, 4), SmallFileError);
 * await assert.rejects(readSmallTextFile("/dev/zero", 64), /not a regular file/);
 * await Deno.remove(path);
 * ```
 */
export async function readSmallTextFile(path: string, maxBytes: number): Promise<string> {
  // Checked before opening: opening a FIFO for reading would wait for a writer.
  check(await Deno.stat(path), maxBytes);
  using file = await Deno.open(path, { read: true });
  check(await file.stat(), maxBytes); // the path may have been replaced in between
  const buffer = new Uint8Array(maxBytes + 1);
  let length = 0;
  while (length < buffer.length) {
    const n = await file.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
  }
  if (length > maxBytes) throw tooLarge(maxBytes, "it grew while being read");
  return new TextDecoder().decode(buffer.subarray(0, length));
}

function check(info: Deno.FileInfo, maxBytes: number): void {
  if (!info.isFile) {
    const kind = info.isDirectory ? "a directory" : "a device, FIFO or socket";
    throw new SmallFileError(`not a regular file (${kind}); give the path of a regular file`);
  }
  if (info.size > maxBytes) throw tooLarge(maxBytes, `it has ${info.size} bytes`);
}

function tooLarge(maxBytes: number, detail: string): SmallFileError {
  return new SmallFileError(`larger than the ${formatBytes(maxBytes)} allowed (${detail}); is it the right file?`);
}

function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
