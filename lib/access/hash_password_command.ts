/**
 * `tcposcrouter hash-password`: reads a password without echo and prints the line to paste
 * into the groups file.
 *
 * @module
 */

import { hashPassword } from "./password_hash.ts";

/** The password could not be read (empty, mismatch, interrupted). */
export class PasswordInputError extends Error {
  /**
   * A password that could not be read.
   *
   * @param message what went wrong and what to do
   */
  constructor(message: string) {
    super(message);
    this.name = "PasswordInputError";
  }
}

/** What the command reads from and writes to (the process's streams, or fakes in tests). */
export interface PasswordIo {
  /** Whether standard input is a terminal (then: prompt, no echo, ask twice). */
  isTerminal: boolean;
  /** Switches the terminal's echo and line editing off (true) or back on. */
  setRaw: (raw: boolean) => void;
  /** Reads some bytes from standard input; null at its end. */
  read: (buffer: Uint8Array) => Promise<number | null>;
  /** Writes prompts (standard error). */
  prompt: (text: string) => void;
}

const CTRL_C = 0x03, CTRL_D = 0x04, BACKSPACE = 0x08, DELETE = 0x7f;

/** One line from a raw terminal: nothing is echoed; backspace erases; Ctrl-C aborts. */
async function readHiddenLine(io: PasswordIo, question: string): Promise<Uint8Array> {
  io.prompt(question);
  const line: number[] = [];
  const one = new Uint8Array(1);
  io.setRaw(true);
  try {
    for (;;) {
      const n = await io.read(one);
      const byte = one[0]!;
      if (n === null || byte === CTRL_D) break;
      if (n === 0) continue;
      if (byte === CTRL_C) throw new PasswordInputError("interrupted; nothing was printed");
      if (byte === 0x0d || byte === 0x0a) break;
      if (byte === DELETE || byte === BACKSPACE) line.pop();
      else line.push(byte);
    }
  } finally {
    io.setRaw(false);
    io.prompt("\n");
  }
  return new Uint8Array(line);
}

/** The first line of a piped standard input (without its line ending). */
async function readFirstLine(io: PasswordIo): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = await io.read(buffer);
    if (n === null) break;
    const newline = buffer.subarray(0, n).indexOf(0x0a);
    if (newline !== -1) {
      chunks.push(...buffer.subarray(0, newline));
      break;
    }
    chunks.push(...buffer.subarray(0, n));
    if (chunks.length > 4096) break;
  }
  if (chunks.at(-1) === 0x0d) chunks.pop();
  return new Uint8Array(chunks);
}

/**
 * Reads the password (asking twice on a terminal) and returns the line to paste.
 *
 * @param io standard input and the prompt's stream
 * @param user print `user = "..."` instead of `password = "..."`
 * @param cost scrypt's cost (the default is the router's; tests use a cheaper one)
 * @returns the line, without a newline
 * @throws {PasswordInputError} when the password is empty, too long, or the two entries differ
 *
 * @example From a pipe
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPasswordLine } from "./hash_password_command.ts";
 * const input = new TextEncoder().encode("hunter2\n");
 * let done = false;
 * const line = await hashPasswordLine({
 *   isTerminal: false, setRaw() {}, prompt() {},
 *   read: (b) => Promise.resolve(done ? null : (done = true, b.set(input), input.length)),
 * }, "ana", { ln: 10, r: 8, p: 1 });
 * assert.match(line, /^ana = "\$scrypt\$ln=10,r=8,p=1\$[^"]+"$/);
 * ```
 */
export async function hashPasswordLine(
  io: PasswordIo,
  user?: string,
  cost?: { ln: number; r: number; p: number },
): Promise<string> {
  let password: Uint8Array;
  if (io.isTerminal) {
    password = await readHiddenLine(io, "Password (not shown): ");
    if (password.length > 0) {
      const again = await readHiddenLine(io, "Same password again: ");
      if (again.length !== password.length || !again.every((b, i) => b === password[i])) {
        throw new PasswordInputError("the two passwords differ; nothing was printed; run it again");
      }
    }
  } else {
    password = await readFirstLine(io);
  }
  if (password.length === 0) throw new PasswordInputError("the password is empty; an empty password protects nothing");
  if (password.length > 256) {
    throw new PasswordInputError("the password is over 256 bytes; the router refuses longer ones");
  }
  const hash = await hashPassword(password, cost);
  const key = user === undefined ? "password" : /^[A-Za-z0-9_-]+$/.test(user) ? user : JSON.stringify(user);
  return `${key} = "${hash}"`;
}
