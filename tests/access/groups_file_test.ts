import assert from "node:assert/strict";
import { GroupsFileError, loadGroupsFile, parseGroupsFile } from "../../lib/access/groups_file.ts";
import { hashPassword, parsePasswordHash, PasswordHashError, verifyPassword } from "../../lib/access/password_hash.ts";

const HASH = "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0MTI";

Deno.test("groups file: the shipped example parses, and its documented passwords match", async () => {
  const config = await loadGroupsFile("examples/deploy/groups.toml");
  const band = config.groups.get("band")!;
  assert.equal(band.usersOnly, false);
  assert.ok(await verifyPassword(band.password, "band-example-password"));
  assert.ok(await verifyPassword(band.users.get("conductor")!, "conductor-example-password"));
  const school = config.groups.get("school")!;
  assert.equal(school.usersOnly, true);
  assert.ok(await verifyPassword(school.password, "school-example-password"));
  assert.ok(await verifyPassword(school.users.get("teacher")!, "conductor-example-password"));
  assert.ok(!await verifyPassword(band.password, "band-example-passwore"));
});

Deno.test("groups file: names with spaces and slashes, users optional, no file means no groups", () => {
  const config = parseGroupsFile(`
[groups."Ana's band/2"]
password = "${HASH}"
[groups.empty]
password = "${HASH}"
[groups.empty.users]
"Ana María" = "${HASH}"
`);
  assert.deepEqual([...config.groups.keys()], ["Ana's band/2", "empty"]);
  assert.equal(config.groups.get("Ana's band/2")!.users.size, 0);
  assert.deepEqual([...config.groups.get("empty")!.users.keys()], ["Ana María"]);
  assert.equal(parseGroupsFile("# nothing yet\n").groups.size, 0);
});

function assertFileError(text: string, line: number | undefined, pattern: RegExp) {
  assert.throws(() => parseGroupsFile(text), (e) => {
    assert.ok(e instanceof GroupsFileError, String(e));
    assert.equal(e.line, line, `line of: ${e.message}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("ZGln"), "a hash is never in the message");
    return true;
  });
}

Deno.test("groups file: every mistake names its line and what to fix", () => {
  assertFileError(`[groups.band]\npassword = "${HASH}\n`, 2, /not valid TOML/);
  assertFileError(`[groups.band]\npasword = "${HASH}"\n`, 2, /unknown key 'pasword'.*allowed are password/);
  assertFileError(`[groups.band]\nusers_only = true\n`, 1, /needs password = "\$scrypt\$\.\.\."/);
  assertFileError(`[groups.band]\npassword = "hunter2"\n`, 2, /not a password hash.*hash-password/);
  assertFileError(`[groups.band]\npassword = "${HASH.replace("ln=15", "ln=30")}"\n`, 2, /out of range/);
  assertFileError(`[groups.band]\npassword = "${HASH}"\nusers_only = "yes"\n`, 3, /true or false/);
  assertFileError(`[groups.band]\npassword = "${HASH}"\nusers_only = true\n`, 3, /nobody could join/);
  assertFileError(`[groups.band]\npassword = "${HASH}"\n[groups.band.users]\nana = 1234\n`, 4, /needs a hash string/);
  assertFileError(`[groups.band]\npassword = "${HASH}"\n[groups.band.users]\n"" = "${HASH}"\n`, 4, /empty/);
  assertFileError(`[group.band]\npassword = "${HASH}"\n`, 1, /unknown top-level key 'group'/);
});

Deno.test("groups file: loadGroupsFile prefixes path:line:column; a missing file says so", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, `[groups.band]\n\npassword = 12\n`);
    await assert.rejects(loadGroupsFile(path), (e: Error) => {
      assert.match(e.message, new RegExp(`^${path.replaceAll(".", "\\.")}:1:\\d+: \\[groups.band\\] needs password`));
      return true;
    });
  } finally {
    await Deno.remove(path);
  }
  await assert.rejects(loadGroupsFile("/nonexistent/groups.toml"), /cannot read \/nonexistent\/groups.toml/);
});

Deno.test("password hash: salted (two hashes of one password differ), checked in constant-time compare", async () => {
  const a = await hashPassword("pw", { ln: 10, r: 8, p: 1 });
  const b = await hashPassword("pw", { ln: 10, r: 8, p: 1 });
  assert.notEqual(a, b);
  assert.ok(await verifyPassword(a, "pw") && await verifyPassword(b, "pw"));
  assert.throws(() => parsePasswordHash("$argon2id$v=19$m=65536,t=3,p=4$abc$def"), PasswordHashError);
  assert.throws(() => parsePasswordHash(HASH.replace("p=1", "p=99")), PasswordHashError);
});
