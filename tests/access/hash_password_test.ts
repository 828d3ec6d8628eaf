/** hash-password on a terminal: no echo, asked twice, backspace, Ctrl-C. */
import assert from "node:assert/strict";
import { hashPasswordLine, PasswordInputError, type PasswordIo } from "../../lib/access/hash_password_command.ts";
import { verifyPassword } from "../../lib/access/password_hash.ts";

const CHEAP = { ln: 10, r: 8, p: 1 };

/** A terminal that types `keys` one byte at a time and records prompts and raw mode. */
function terminal(keys: string) {
  const bytes = new TextEncoder().encode(keys);
  let at = 0;
  const log: string[] = [];
  const io: PasswordIo = {
    isTerminal: true,
    setRaw: (raw) => log.push(raw ? "<raw>" : "</raw>"),
    prompt: (text) => log.push(text),
    read: (buffer) => {
      if (at >= bytes.length) return Promise.resolve(null);
      buffer[0] = bytes[at++]!;
      return Promise.resolve(1);
    },
  };
  return { io, log };
}

Deno.test("hash-password: on a terminal, asked twice without echo; backspace edits", async () => {
  const { io, log } = terminal("hunterX\x7f2\rhunter2\r");
  const line = await hashPasswordLine(io, undefined, CHEAP);
  assert.match(line, /^password = "\$scrypt\$ln=10,r=8,p=1\$/);
  assert.ok(await verifyPassword(line.split('"')[1]!, "hunter2"));
  assert.deepEqual(log, [
    "Password (not shown): ",
    "<raw>",
    "</raw>",
    "\n",
    "Same password again: ",
    "<raw>",
    "</raw>",
    "\n",
  ], "only prompts are written: the password is never echoed; raw mode is always undone");
});

Deno.test("hash-password: two different entries, an empty one, or Ctrl-C print nothing", async () => {
  await assert.rejects(hashPasswordLine(terminal("one\rtwo\r").io, undefined, CHEAP), /the two passwords differ/);
  await assert.rejects(hashPasswordLine(terminal("\r").io, undefined, CHEAP), /empty/);
  const { io, log } = terminal("hun\x03");
  await assert.rejects(hashPasswordLine(io, undefined, CHEAP), PasswordInputError);
  assert.equal(log.at(-2), "</raw>", "the terminal is restored after Ctrl-C");
  await assert.rejects(
    hashPasswordLine(terminal(`${"x".repeat(300)}\r${"x".repeat(300)}\r`).io, undefined, CHEAP),
    /256 bytes/,
  );
});
