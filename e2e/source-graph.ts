// The source tree's relative-import graph, from a static walk: e2e/import-graph.test.ts checks it
// (no cycles, no production module importing test code), e2e/test-lanes.ts sorts the test files
// by what they reach. An edge is an `import`/`export … from` (type-only ones included), a dynamic
// `import('…')`, or a worker started with `new URL('…', import.meta.url)`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SOURCE = /\.(ts|mts|mjs|js|svelte)$/;

export function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const SPECIFIERS = [
  /\b(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\s*from\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\bnew\s+URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g,
];

/** Relative specifiers in `source`, comments removed first (a comment may quote an import). */
export function relativeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  const out: string[] = [];
  for (const re of SPECIFIERS) for (const m of code.matchAll(re)) if (m[1].startsWith('.')) out.push(m[1]);
  return out;
}

function resolveImport(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec.split('?')[0]);
  for (const p of [base, `${base}.ts`, join(base, 'index.ts')]) if (existsSync(p) && statSync(p).isFile()) return p;
  return null;
}

/** The graph over the tree's source files: file → files it imports (relative imports only). */
export function importGraph(roots: string[]): Map<string, string[]> {
  const files = roots.flatMap((r) => (existsSync(join(ROOT, r)) ? walk(join(ROOT, r), []) : []));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps = relativeImports(readFileSync(f, 'utf8'))
      .map((s) => resolveImport(f, s))
      .filter((p): p is string => p !== null && SOURCE.test(p));
    graph.set(f, [...new Set(deps)]);
  }
  return graph;
}
