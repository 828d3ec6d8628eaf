/** Small configuration files are read with a cap: never a device, a FIFO or a huge file. */
import assert from "node:assert/strict";
import { readSmallTextFile, SmallFileError } from "../../lib/access/read_small_file.ts";

Deno.test("small file: up to the cap is read; one byte more, a directory, /dev/zero (direct or linked) are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ok`, "x".repeat(1024));
    assert.equal((await readSmallTextFile(`${dir}/ok`, 1024)).length, 1024);
    await assert.rejects(readSmallTextFile(`${dir}/ok`, 1023), (e: Error) => {
      assert.ok(e instanceof SmallFileError);
      assert.match(e.message, /larger than the 1023 bytes allowed \(it has 1024 bytes\)/);
      return true;
    });
    await Deno.symlink("/dev/zero", `${dir}/zero`);
    const started = performance.now();
    for (const path of ["/dev/zero", `${dir}/zero`, dir]) {
      await assert.rejects(readSmallTextFile(path, 1024 * 1024), /not a regular file/, path);
    }
    assert.ok(performance.now() - started < 1000, "refused at once, nothing read");
    await Deno.symlink(`${dir}/ok`, `${dir}/link`);
    assert.equal((await readSmallTextFile(`${dir}/link`, 4096)).length, 1024, "a link to a regular file is fine");
    await assert.rejects(readSmallTextFile(`${dir}/missing`, 10), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("small file: a FIFO is refused at once, without waiting for a writer", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const made = await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    assert.equal(made.code, 0, "mkfifo");
    await assert.rejects(readSmallTextFile(`${dir}/fifo`, 1024), /not a regular file \(a device, FIFO or socket\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
