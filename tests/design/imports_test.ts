/**
 * DESIGN.md's picture is true: every import goes down its layers (or stays in its directory),
 * nothing in lib/ imports from outside lib/, and the directories it calls pure do no I/O. The
 * layers are read from the picture itself, the imports from `deno info --json`.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const ROOT_PATH = ROOT.pathname;

/** A node: module a pure directory may import: computation, no I/O. */
const PURE_NODE_MODULES = new Set(["node:crypto"]);
/** An npm package a pure directory may import: LogTape is library-first (a library only logs). */
const PURE_NPM_PREFIXES = ["npm:@logtape/logtape@"];

interface Picture {
  /** Directory ("lib/osc", or "main.ts") -> its layer, 0 at the top. */
  layers: Map<string, number>;
  /** Directories the picture calls pure. */
  pure: Set<string>;
}

/** The layers of DESIGN.md's first code block: directory lines at column 0, layers split by `|` lines. */
function readPicture(design: string): Picture {
  const block = /```\n([\s\S]*?)```/.exec(design)?.[1];
  assert.ok(block, "DESIGN.md starts with its picture in a code block");
  const layers = new Map<string, number>();
  const pure = new Set<string>();
  let layer = 0;
  for (const line of block.split("\n")) {
    if (/^\s*\|\s*$/.test(line)) {
      layer++;
      continue;
    }
    const m = /^(main\.ts|lib\/[\w-]+)\/?\s+(.*)$/.exec(line);
    if (m === null) continue;
    layers.set(m[1]!, layer);
    if (/^pure\b/.test(m[2]!)) pure.add(m[1]!);
  }
  return { layers, pure };
}

/** "lib/osc" for "lib/osc/codec.ts", "main.ts" for "main.ts". */
function directoryOf(path: string): string {
  return path.startsWith("lib/") ? path.split("/").slice(0, 2).join("/") : path;
}

interface Edge {
  from: string;
  to: string;
}

interface ModuleInfo {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier?: string }; type?: { specifier?: string } }[];
}

/** Every import of main.ts and of every lib/ module, as paths from the repository root (or external specifiers). */
async function importGraph(): Promise<Edge[]> {
  const libFiles: string[] = [];
  for await (const dir of Deno.readDir(new URL("lib/", ROOT))) {
    if (!dir.isDirectory) continue;
    for await (const file of Deno.readDir(new URL(`lib/${dir.name}/`, ROOT))) {
      if (file.isFile && file.name.endsWith(".ts")) libFiles.push(`lib/${dir.name}/${file.name}`);
    }
  }
  const edges = new Map<string, Edge>();
  const seen = new Set<string>();
  for (const root of ["main.ts", ...libFiles]) {
    if (seen.has(root)) continue; // already in the graph of an earlier root
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--frozen", "--lock=tests.lock", root],
      cwd: ROOT_PATH,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const graph = JSON.parse(new TextDecoder().decode(stdout)) as { modules: ModuleInfo[] };
    for (const module of graph.modules) {
      const from = local(module.specifier);
      if (from === undefined || !(from === "main.ts" || from.startsWith("lib/"))) continue;
      seen.add(from);
      for (const dependency of module.dependencies ?? []) {
        const target = dependency.code?.specifier ?? dependency.type?.specifier ?? dependency.specifier;
        const to = local(target) ?? target;
        edges.set(`${from} ${to}`, { from, to });
      }
    }
  }
  return [...edges.values()];
}

/** A file URL inside the repository as a path from its root; undefined for anything else. */
function local(specifier: string): string | undefined {
  return specifier.startsWith(ROOT.href) ? specifier.slice(ROOT.href.length) : undefined;
}

const picture = readPicture(await Deno.readTextFile(new URL("DESIGN.md", ROOT)));
const edges = await importGraph();

Deno.test("design: the picture names every directory of lib/, in layers", () => {
  assert.ok(picture.layers.size >= 10, `the picture names ${picture.layers.size} directories`);
  const directories = new Set(edges.map((e) => directoryOf(e.from)));
  for (const directory of directories) {
    assert.ok(picture.layers.has(directory), `${directory} is not in DESIGN.md's picture: add it to a layer`);
  }
  assert.equal(picture.layers.get("main.ts"), 0, "main.ts is at the top");
});

Deno.test("design: every import goes down the picture's layers, or stays in its directory", () => {
  const wrong: string[] = [];
  for (const { from, to } of edges) {
    const external = to.includes(":"); // npm:, node:, jsr:, https:
    if (from.startsWith("lib/") && !external && !to.startsWith("lib/")) {
      wrong.push(`${from} imports ${to}, outside lib/`);
    }
    if (!to.startsWith("lib/")) continue;
    const a = directoryOf(from), b = directoryOf(to);
    if (a === b) continue;
    const above = picture.layers.get(a), below = picture.layers.get(b);
    if (above === undefined || below === undefined) continue; // the test above names it
    if (below <= above) {
      wrong.push(
        `${from} imports ${to}: ${b} is ${below === above ? "in the same layer" : "above"} (move what both need down)`,
      );
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("design: the directories the picture calls pure import no I/O module and call no Deno API", async () => {
  assert.ok(picture.pure.has("lib/osc") && picture.pure.has("lib/router"), "the picture marks the core pure");
  const wrong: string[] = [];
  for (const { from, to } of edges) {
    if (!picture.pure.has(directoryOf(from))) continue;
    if (to.startsWith("node:") && !PURE_NODE_MODULES.has(to)) wrong.push(`${from} imports ${to}`);
    if (to.startsWith("npm:") && !PURE_NPM_PREFIXES.some((p) => to.startsWith(p))) wrong.push(`${from} imports ${to}`);
  }
  for (const from of new Set(edges.map((e) => e.from))) {
    if (!picture.pure.has(directoryOf(from))) continue;
    const code = (await Deno.readTextFile(new URL(from, ROOT)))
      .replace(/\/\*[\s\S]*?\*\//g, "") // comments (their examples may use Deno freely)
      .replace(/\/\/.*$/gm, "");
    const call = /\bDeno\.[a-z]\w*/.exec(code);
    if (call !== null) wrong.push(`${from} calls ${call[0]}`);
  }
  assert.deepEqual(wrong, []);
});

Deno.test("design: the checks see a wrong import (the picture is read, not assumed)", () => {
  const layers = readPicture("```\nmain.ts  x\n  |\nlib/a/  pure one\nlib/b/  two\n  |\nlib/c/  three\n```\n");
  assert.deepEqual([...layers.layers], [["main.ts", 0], ["lib/a", 1], ["lib/b", 1], ["lib/c", 2]]);
  assert.deepEqual([...layers.pure], ["lib/a"]);
  assert.ok(edges.some((e) => e.from === "lib/router/router.ts" && e.to === "lib/osc/codec.ts"), "the graph is read");
});
