// The source tree's import graph: no cycles, and no production module imports from e2e/.
// A static walk over every .ts/.mjs/.svelte file of coordinator/, shared/, kernels/ and
// web/src/: an edge is an `import`/`export … from` (type-only ones included: a type cycle is
// still two modules that cannot be read apart), a dynamic `import('…')`, or a worker started
// with `new URL('…', import.meta.url)` (a worker that imports back the module that starts it
// is a cycle at run time). Tests (`*.test.ts`) may import from e2e/ (fixtures, the Chromium
// launcher); so may kernels/dev/, the benchmark corner that drives Chromium. Also: the
// coordinator's folders are entered through their index.ts, its SQL lives in db/, and no
// production file holds a fault switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { importGraph, relativeImports } from './source-graph.ts';

const ROOT = resolve(import.meta.dirname, '..');
const ROOTS = ['coordinator', 'shared', 'kernels', 'web/src'];

/** Every elementary cycle's strongly connected component (Tarjan), as paths relative to the repo. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.map((p) => relative(ROOT, p)).sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

test('the walk sees every kind of edge: static, type-only, re-export, dynamic, worker URL; not comments', () => {
  const src = [
    "import { a } from './a.ts';",
    "import type { B } from '../b.ts';",
    "export { c } from './c.ts';",
    "import './side.ts';",
    "const d = await import('./d.ts');",
    "new Worker(new URL('./w.mjs', import.meta.url));",
    "// import { no } from './commented.ts';",
    "/* import { no } from './block.ts'; */",
    "import x from 'viem';",
  ].join('\n');
  assert.deepEqual(relativeImports(src).sort(), ['../b.ts', './a.ts', './c.ts', './d.ts', './side.ts', './w.mjs'].sort());
  const g = new Map([
    ['x', ['y']],
    ['y', ['z']],
    ['z', ['x']],
    ['q', ['x']],
  ]);
  assert.deepEqual(
    cycles(g).map((c) => c.length),
    [3],
    'one three-module cycle; q only leads into it',
  );
});

test('no import cycles in coordinator/, shared/, kernels/, web/src/', () => {
  const graph = importGraph(ROOTS);
  assert.ok(graph.size > 100, `walked ${graph.size} files`);
  const found = cycles(graph);
  assert.deepEqual(found, [], `import cycles:\n${found.map((c) => `  ${c.join(' ↔ ')}`).join('\n')}`);
});

test('no production module imports from e2e/', () => {
  const e2e = join(ROOT, 'e2e') + '/';
  const bad: string[] = [];
  for (const [file, deps] of importGraph(ROOTS)) {
    const rel = relative(ROOT, file);
    if (rel.endsWith('.test.ts') || rel.startsWith('kernels/dev/')) continue;
    for (const d of deps) if (d.startsWith(e2e)) bad.push(`${rel} → ${relative(ROOT, d)}`);
  }
  assert.deepEqual(bad, [], `production code importing test code:\n  ${bad.join('\n  ')}`);
});

test("coordinator/'s folders are entered through their index.ts, which names its exports (no `export *`)", () => {
  const coord = join(ROOT, 'coordinator');
  const folders = readdirSync(coord).filter((n) => statSync(join(coord, n)).isDirectory());
  const folderOf = (p: string) => folders.find((f) => p.startsWith(join(coord, f) + '/'));
  const bad: string[] = [];
  for (const f of folders) {
    const index = join(coord, f, 'index.ts');
    if (!existsSync(index)) bad.push(`coordinator/${f}/ has no index.ts`);
    else if (/^export \*/m.test(readFileSync(index, 'utf8'))) bad.push(`coordinator/${f}/index.ts uses export *`);
    else if (!/^\/\/ \S/.test(readFileSync(index, 'utf8'))) bad.push(`coordinator/${f}/index.ts does not open with a comment saying what lives there`);
  }
  for (const [file, deps] of importGraph(['coordinator'])) {
    if (file.endsWith('.test.ts')) continue;
    const own = folderOf(file);
    for (const d of deps) {
      const into = folderOf(d);
      if (into && into !== own && !d.endsWith(`${into}/index.ts`)) bad.push(`${relative(ROOT, file)} → ${relative(ROOT, d)} (not through ${into}/index.ts)`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no fault switch in production code: fault points are hooks that tests pass in (e2e/faulty-main.ts)', () => {
  const bad = [...importGraph(ROOTS).keys()]
    .filter((f) => !f.endsWith('.test.ts') && readFileSync(f, 'utf8').includes('IDLEGRAD_FAULT'))
    .map((f) => relative(ROOT, f));
  assert.deepEqual(bad, []);
});

test('every SQL statement of the coordinator lives in coordinator/db/', () => {
  const sql = /[`'"]\s*(select|insert into|update \w+ set|delete from|create table|alter table)\b/i;
  const bad = [...importGraph(['coordinator']).keys()]
    .map((f) => relative(ROOT, f))
    .filter((f) => !f.endsWith('.test.ts') && !f.startsWith('coordinator/db/') && sql.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(bad, []);
});
