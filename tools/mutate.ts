/**
 * The mutation run: puts each fault of `tools/mutation_faults.ts` into a copy of the tree, one at a
 * time, runs the narrowest tests that should notice it, and reports which faults the tests killed
 * and which survived. A survivor is a missing test: write the test, then keep the fault in the list.
 *
 * usage: deno task mutate [--only ID]... [--timeout SECONDS] [--no-baseline] [--verbose] [--list]
 *
 * - The working tree is never edited: the files git knows (tracked, and untracked ones not ignored)
 *   are copied once to a temporary directory, and each fault is applied there and undone after.
 * - Every fault's search string must occur exactly once in its file, or the run stops before it
 *   starts (exit code 2): a stale fault is never skipped in silence.
 * - First the tests of the selected faults run once on the unchanged copy (the baseline): a test that
 *   already fails would "kill" every fault, so a failing baseline stops the run (exit code 2).
 * - A fault's tests run with `deno test --frozen --lock=tests.lock --allow-all --no-check --fail-fast`: the
 *   tests must notice a fault, not the type checker. A run that passes its timeout is killed and
 *   counted as a kill (the fault made a test hang), shown as `timeout`.
 * - A run that fails without a failing test (the fault does not parse, or a module does not load)
 *   is not a kill: it is reported as `broken`, and the run exits with code 2.
 * - Exit code 0 when every fault was killed, 1 when any survived.
 *
 * @example
 * ```ts ignore
 * // nice -n 19 deno task mutate
 * // nice -n 19 deno task mutate --only osc-blob-padding
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FAULTS, type MutationFault } from "./mutation_faults.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DEFAULT_TIMEOUT_SECONDS = 120;
/** `deno test`'s summary line when a test failed (not when a module failed to load). */
const TEST_FAILED = /^FAILED \| \d+ passed/m;

/** What became of one fault. */
export type Verdict = "killed" | "timeout" | "survived" | "broken";

/**
 * Where `search` occurs in `text`, or an error message if it does not occur exactly once.
 *
 * @param text the file's text
 * @param fault the fault
 * @returns the index of the one occurrence, or a message saying what is wrong with the fault
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { locate } from "./mutate.ts";
 * const fault = { id: "x", file: "a.ts", search: "a > b", replace: "a >= b", description: "", tests: [] };
 * assert.equal(locate("if (a > b) f();", fault), 4);
 * assert.match(String(locate("a > b; a > b", fault)), /occurs 2 times/);
 * ```
 */
export function locate(text: string, fault: MutationFault): number | string {
  const first = text.indexOf(fault.search);
  if (first < 0) return `${fault.id}: the search string does not occur in ${fault.file}; update or remove the fault`;
  let count = 0;
  for (let i = first; i >= 0; i = text.indexOf(fault.search, i + 1)) count++;
  if (count !== 1) {
    return `${fault.id}: the search string occurs ${count} times in ${fault.file}; make it longer so it names one place`;
  }
  if (fault.search === fault.replace) return `${fault.id}: the replacement is the same as the search string`;
  return first;
}

/** The files git knows in the working tree: tracked, and untracked but not ignored. */
async function treeFiles(): Promise<string[]> {
  const { success, stdout, stderr } = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
  }).output();
  if (!success) throw new Error(`git ls-files failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout).split("\0").filter((path) => path !== "");
}

async function copyTree(files: string[], to: string): Promise<void> {
  for (const file of files) {
    const from = `${ROOT}${file}`;
    const info = await Deno.lstat(from).catch(() => undefined);
    if (info === undefined || !info.isFile) continue; // deleted in the working tree, or a symlink
    const target = `${to}/${file}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(from, target);
  }
}

/** Runs `deno test` on `tests` in `cwd`; resolves to the exit verdict and the output. */
async function runTests(
  cwd: string,
  tests: string[],
  timeoutMs: number,
): Promise<{ passed: boolean; timedOut: boolean; output: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--frozen", "--lock=tests.lock", "--allow-all", "--no-check", "--fail-fast", ...tests],
    cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  const { success, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return { passed: success && !timedOut, timedOut, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      only: { type: "string", multiple: true },
      timeout: { type: "string" },
      "no-baseline": { type: "boolean" },
      verbose: { type: "boolean" },
      list: { type: "boolean" },
    },
  });
  const timeoutSeconds = Number(values.timeout ?? DEFAULT_TIMEOUT_SECONDS);
  if (!(timeoutSeconds > 0)) {
    console.error(`--timeout takes a number of seconds above 0, not ${values.timeout}`);
    return 2;
  }
  const ids = new Set(FAULTS.map((f) => f.id));
  if (ids.size !== FAULTS.length) {
    console.error("two faults share an id in tools/mutation_faults.ts; give each its own");
    return 2;
  }
  for (const id of values.only ?? []) {
    if (!ids.has(id)) {
      console.error(`--only ${id}: no such fault; \`deno task mutate --list\` prints the ids`);
      return 2;
    }
  }
  const faults = values.only === undefined ? FAULTS : FAULTS.filter((f) => values.only!.includes(f.id));
  // Every fault must still name exactly one place before anything runs.
  const problems: string[] = [];
  for (const fault of faults) {
    const text = await Deno.readTextFile(`${ROOT}${fault.file}`).catch(() => undefined);
    if (text === undefined) problems.push(`${fault.id}: ${fault.file} does not exist`);
    else {
      const where = locate(text, fault);
      if (typeof where === "string") problems.push(where);
    }
    if (fault.tests.length === 0) problems.push(`${fault.id}: names no test file`);
    for (const test of fault.tests) {
      if (!(await Deno.stat(`${ROOT}${test}`).catch(() => undefined))) {
        problems.push(`${fault.id}: test ${test} does not exist`);
      }
    }
  }
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem);
    console.error(`${problems.length} stale or broken fault(s) in tools/mutation_faults.ts: nothing was run`);
    return 2;
  }
  if (values.list) {
    for (const f of faults) console.log(`${f.id.padEnd(34)} ${f.file}: ${f.description}`);
    return 0;
  }

  const timeoutMs = timeoutSeconds * 1000;
  const dir = await Deno.makeTempDir({ prefix: "tcposcrouter-mutate-" });
  try {
    await copyTree(await treeFiles(), dir);
    console.log(`copied the tree to ${dir}; ${faults.length} fault(s), timeout ${timeoutSeconds} s each`);

    if (!values["no-baseline"]) {
      const tests = [...new Set(faults.flatMap((f) => f.tests))].sort();
      const started = performance.now();
      const baseline = await runTests(dir, tests, timeoutMs * 2);
      if (!baseline.passed) {
        console.error(baseline.output);
        console.error(
          `baseline: the tests fail (or time out) without any fault (${tests.join(" ")}); fix them first`,
        );
        return 2;
      }
      console.log(`baseline: ${tests.length} test file(s) pass unchanged (${secondsSince(started)} s)`);
    }

    const survivors: MutationFault[] = [];
    const broken: MutationFault[] = [];
    for (const fault of faults) {
      const path = `${dir}/${fault.file}`;
      const original = await Deno.readTextFile(path);
      const at = locate(original, fault) as number;
      await Deno.writeTextFile(
        path,
        original.slice(0, at) + fault.replace + original.slice(at + fault.search.length),
      );
      const started = performance.now();
      let result;
      try {
        result = await runTests(dir, fault.tests, timeoutMs);
      } finally {
        await Deno.writeTextFile(path, original);
      }
      const verdict: Verdict = result.timedOut
        ? "timeout"
        : result.passed
        ? "survived"
        : TEST_FAILED.test(result.output)
        ? "killed"
        : "broken";
      if (verdict === "survived") survivors.push(fault);
      if (verdict === "broken") broken.push(fault);
      console.log(
        `${verdict.padEnd(8)} ${fault.id.padEnd(34)} ${secondsSince(started).padStart(6)} s  ${fault.description}`,
      );
      if (values.verbose) console.log(result.output);
    }

    const killed = faults.length - survivors.length - broken.length;
    const percent = ((100 * killed) / faults.length).toFixed(0);
    console.log(`\nscore: ${killed} of ${faults.length} faults killed (${percent} %)`);
    for (const fault of survivors) {
      console.log(`survived: ${fault.id} (${fault.file}): ${fault.description}; tests: ${fault.tests.join(" ")}`);
    }
    for (const fault of broken) {
      console.log(
        `broken: ${fault.id} (${fault.file}): the tests did not run (the fault does not parse or load); ` +
          "fix the fault (--verbose shows the error)",
      );
    }
    if (broken.length > 0) return 2;
    return survivors.length === 0 ? 0 : 1;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function secondsSince(startedMs: number): string {
  return ((performance.now() - startedMs) / 1000).toFixed(1);
}

if (import.meta.main) Deno.exit(await main());
