/**
 * The worker's floors (docs/DESIGN.md): a module imports only from its own floor or a lower one, so the domain types
 * never learn about jobs and no folder needs one above it. Read from the sources' import lines, not from a list.
 * It runs in Node (the worker's own tests run inside workerd, which has no file system to walk).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../worker/src");

/** Folder (or root module) → floor; higher floors may import lower ones, never the other way. */
const FLOORS: Record<string, number> = {
  domain: 0,
  env: 0,
  http: 1,
  webhooks: 2,
  accounts: 3,
  cache: 4,
  uploads: 4,
  dispatch: 5,
  jobs: 6,
  middleware: 7,
  openapi: 8,
  routes: 8,
  index: 9,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** The floor name of a path under worker/src: its first folder, or the file's own name at the root. */
function unitOf(path: string): string | null {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return null;
  const [head, ...rest] = rel.split(/[\\/]/);
  return rest.length > 0 ? head : head.replace(/\.ts$/, "");
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"|import\(\s*"(\.[^"]+)"\s*\)/g;

function backArrows(): string[] {
  const out: string[] = [];
  for (const file of sources(SRC)) {
    const from = unitOf(file) as string;
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const to = unitOf(resolve(dirname(file), m[1] ?? m[2]));
      if (to === null || to === from) continue; // outside worker/src (test fakes) or the same folder
      const a = FLOORS[from];
      const b = FLOORS[to];
      if (a === undefined || b === undefined) out.push(`${relative(SRC, file)}: ${from} or ${to} has no floor`);
      else if (b > a) out.push(`${relative(SRC, file)}: ${from} (floor ${a}) imports ${to} (floor ${b})`);
    }
  }
  return out;
}

describe("worker layering", () => {
  it("finds the imports it checks", () => {
    const files = sources(SRC);
    const imports = files.flatMap((f) => [...readFileSync(f, "utf8").matchAll(IMPORT)]);
    expect(files.length).toBeGreaterThan(50);
    expect(imports.length).toBeGreaterThan(200);
    expect(Object.keys(FLOORS).sort()).toEqual(
      [...new Set(files.map((f) => unitOf(f) as string))].filter((u) => !u.endsWith(".test")).sort(),
    );
  });

  it("has no import from a higher floor into a lower one", () => {
    expect(backArrows()).toEqual([]);
  });
});
