/**
 * Writes deno.lock from tests.lock: the same lock cut down to the npm packages the router itself
 * (main.ts) needs.
 *
 * Deno installs every npm package of the project's lockfile (deno.lock) before `deno task` runs
 * anything and when `deno run` starts, so with the test-only packages (fast-check,
 * playwright-core) in deno.lock a first `deno task start` would download them. So deno.lock holds
 * only the router's packages, the test files import their packages by `npm:` specifier (not from
 * deno.json), and tests, checks and benchmarks run with `--lock=tests.lock`, which holds all.
 *
 * After changing dependencies: update tests.lock (e.g. `deno check --lock=tests.lock main.ts
 * lib/ tests/ bench/ examples/ tools/`), then `deno task lock`. `--check` (run by the tests)
 * fails when deno.lock is out of date.
 *
 * @example
 * ```ts ignore
 * // deno run --allow-run --allow-read --allow-write tools/lock.ts [--check]
 * ```
 *
 * @module
 */

/** Deno's lockfile (version 5), as far as it is read here. */
export interface DenoLock {
  version: string;
  specifiers: Record<string, string>;
  npm: Record<string, { dependencies?: string[] } & Record<string, unknown>>;
  [key: string]: unknown;
}

/** The package name of an `npm:` specifier such as `npm:@logtape/logtape@^2.4.2`. */
function packageName(specifier: string): string {
  const rest = specifier.replace(/^npm:\/?/, "");
  const at = rest.indexOf("@", 1);
  return at < 0 ? rest : rest.slice(0, at);
}

/**
 * The lock cut down to the packages in `keep` (lock ids such as `commander@15.1.0`) and the
 * specifiers that resolve to them; everything else (the workspace section too) is unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lock = {
 *   version: "5",
 *   specifiers: { "npm:a@^1.0.0": "1.0.0", "npm:t@^2.0.0": "2.0.0" },
 *   npm: { "a@1.0.0": { integrity: "x" }, "t@2.0.0": { integrity: "y" } },
 *   workspace: { dependencies: ["npm:a@^1.0.0", "npm:t@^2.0.0"] },
 * };
 * const cut = pruneLock(lock, new Set(["a@1.0.0"]));
 * assert.deepEqual(cut.specifiers, { "npm:a@^1.0.0": "1.0.0" });
 * assert.deepEqual(Object.keys(cut.npm), ["a@1.0.0"]);
 * ```
 */
export function pruneLock(lock: DenoLock, keep: ReadonlySet<string>): DenoLock {
  const specifiers = Object.fromEntries(
    Object.entries(lock.specifiers).filter(([specifier, resolved]) =>
      !specifier.startsWith("npm:") || keep.has(`${packageName(specifier)}@${resolved}`)
    ),
  );
  const npm = Object.fromEntries(Object.entries(lock.npm).filter(([id]) => keep.has(id)));
  return { ...lock, specifiers, npm };
}

/** The npm packages (lock ids) main.ts's module graph needs, with their dependencies. */
async function routerPackages(root: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--frozen", "--lock=tests.lock", "main.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno info failed: ${new TextDecoder().decode(out.stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { kind?: string; specifier: string }[];
    npmPackages: Record<string, { name: string; version: string; dependencies: string[] }>;
  };
  const ids = Object.keys(info.npmPackages);
  const queue = info.modules.filter((m) => m.kind === "npm").map((m) => {
    const name = packageName(m.specifier);
    const version = m.specifier.replace(/^npm:\/?/, "").slice(name.length + 1).replace(/\/.*$/, "");
    const nameVersion = `${name}@${version}`;
    const id = ids.find((i) => i === nameVersion || i.startsWith(`${nameVersion}_`));
    if (id === undefined) throw new Error(`no npm package for ${m.specifier}`);
    return id;
  });
  const keep = new Set<string>();
  for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
    // Type declarations (@types/*) serve `deno check` only: running the router never loads them.
    if (keep.has(id) || id.startsWith("@types/")) continue;
    keep.add(id);
    queue.push(...info.npmPackages[id]!.dependencies);
  }
  return keep;
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url).pathname;
  const lock = JSON.parse(await Deno.readTextFile(`${root}tests.lock`)) as DenoLock;
  const text = JSON.stringify(pruneLock(lock, await routerPackages(root)), null, 2) + "\n";
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(`${root}deno.lock`).catch(() => "");
    if (current !== text) {
      console.error("deno.lock is out of date with tests.lock: run deno task lock");
      Deno.exit(1);
    }
  } else {
    await Deno.writeTextFile(`${root}deno.lock`, text);
  }
}
