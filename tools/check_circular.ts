/**
 * The circular-import check of `deno task check` (std has the same as `lint:circular`): reads the
 * static imports of main.ts and of every .ts file under src/, type-only ones included, finds the
 * cycles among those files, prints each as a chain of paths (`src/a.ts -> src/b.ts -> src/a.ts`)
 * and exits 1 if there is any.
 *
 * The imports come from `deno info --json`, Deno's own parser, so imports in comments, strings
 * or JSDoc examples are never mistaken for real ones. Dynamic `import()` is not a static import
 * and is left out.
 *
 * ```sh
 * deno run -A tools/check_circular.ts [DIR]
 * ```
 *
 * @module
 */

import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** A module graph: each file's path and the paths of the files it imports statically. */
export type ImportGraph = Map<string, string[]>;

/** The files the check covers under `root`: main.ts when present, every .ts under src/. */
export async function collectRoots(root: string): Promise<string[]> {
  const files: string[] = [];
  const main = resolve(root, "main.ts");
  if (await isFile(main)) files.push(main);
  await walk(resolve(root, "src"), files);
  return files.sort();
}

/**
 * Reads the static imports of `files` (and of what they import) with `deno info --json`, run in
 * `root` so that its deno.json applies.
 *
 * @param files Absolute paths of the modules to start from.
 * @param root The directory to run `deno info` in.
 * @returns Every local module reached, with the local modules it imports.
 * @throws {Error} When `deno info` fails, naming the file and its output.
 */
export async function readImportGraph(files: string[], root: string): Promise<ImportGraph> {
  const graph: ImportGraph = new Map();
  for (const file of files) {
    if (graph.has(file)) continue;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-npm", "--no-remote", file],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      const stderr = new TextDecoder().decode(output.stderr).trim();
      throw new Error(`Cannot read the imports of "${file}": deno info failed: ${stderr}`);
    }
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as DenoInfo;
    for (const module of info.modules) {
      const path = localPath(module.specifier);
      if (path === undefined || graph.has(path)) continue;
      const imports: string[] = [];
      for (const dependency of module.dependencies ?? []) {
        if (dependency.isDynamic) continue;
        for (const resolved of [dependency.code, dependency.type]) {
          const target = resolved === undefined ? undefined : localPath(resolved.specifier);
          if (target !== undefined && !imports.includes(target)) imports.push(target);
        }
      }
      graph.set(path, imports);
    }
  }
  return graph;
}

/**
 * The import cycles among the files of `graph` that `within` accepts: for each file on a cycle,
 * the shortest cycle through it, each cycle once, starting at its smallest path and ending where
 * it started.
 *
 * @param graph The module graph.
 * @param within Which files count (default: all); imports of other files are ignored.
 * @returns The cycles, sorted.
 */
export function findCycles(
  graph: ImportGraph,
  within: (path: string) => boolean = () => true,
): string[][] {
  const edges = (path: string): string[] =>
    (graph.get(path) ?? []).filter((target) => within(target) && graph.has(target));
  const seen = new Set<string>();
  const cycles: string[][] = [];
  for (const start of [...graph.keys()].filter(within).sort()) {
    const cycle = shortestCycle(start, edges);
    if (cycle === undefined) continue;
    const canonical = rotateToSmallest(cycle);
    const key = canonical.join("\0");
    if (seen.has(key)) continue;
    seen.add(key);
    cycles.push([...canonical, canonical[0]]);
  }
  return cycles.sort((a, b) => a.join("\0").localeCompare(b.join("\0")));
}

/** Runs the check on `root` (default: the working directory); resolves to the exit status. */
export async function checkCircular(root = Deno.cwd()): Promise<number> {
  const base = resolve(root);
  const files = await collectRoots(base);
  const covered = new Set(files);
  const graph = await readImportGraph(files, base);
  const cycles = findCycles(graph, (path) => covered.has(path));
  for (const cycle of cycles) {
    console.log(`Import cycle: ${cycle.map((path) => relative(base, path)).join(" -> ")}`);
  }
  if (cycles.length > 0) {
    console.log(`${cycles.length} import cycle(s) among ${files.length} files`);
    return 1;
  }
  console.log(`No import cycles among ${files.length} files`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Internals

/** The parts of `deno info --json` this check reads. */
interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: {
      isDynamic?: boolean;
      code?: { specifier: string };
      type?: { specifier: string };
    }[];
  }[];
}

function localPath(specifier: string): string | undefined {
  return specifier.startsWith("file:") ? fileURLToPath(specifier) : undefined;
}

/** Breadth-first from `start`'s imports back to `start`: the path, `start` first. */
function shortestCycle(start: string, edges: (path: string) => string[]): string[] | undefined {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let at = 0; at < queue.length; at++) {
    const node = queue[at];
    for (const next of edges(node)) {
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(parent.get(path[0])!);
        return path;
      }
      if (parent.has(next)) continue;
      parent.set(next, node);
      queue.push(next);
    }
  }
  return undefined;
}

function rotateToSmallest(cycle: string[]): string[] {
  let smallest = 0;
  for (let i = 1; i < cycle.length; i++) if (cycle[i] < cycle[smallest]) smallest = i;
  return [...cycle.slice(smallest), ...cycle.slice(0, smallest)];
}

async function walk(directory: string, files: string[]): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(directory));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const entry of entries) {
    const path = resolve(directory, entry.name);
    if (entry.isDirectory) await walk(path, files);
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  Deno.exit(await checkCircular(Deno.args[0]));
}
