// Which test files `npm test` (e2e/run-tests.ts) may run two at a time, and which need the
// machine to themselves. A file is serial when its imports reach a harness module — Chromium
// (e2e/chromium.ts, also under kernels/dev/ and the NAT lab), a platform process
// (e2e/platform-process.ts), `npm start`/`npm pack` (e2e/npm-start.ts) or the web build
// (coordinator/deploy/web-build.ts, which writes dist/), virtual volunteers against a live
// coordinator's real-time round windows (e2e/virtual-volunteer.ts: a second file on the two
// cores makes them miss a window; seen at load 40) — or when it says `test-lane: serial` itself
// (a test that measures wall time, or spawns a harness it does not import). Everything else
// shares nothing with another file: servers on OS-chosen ports, its own temporary directories
// and databases, simulated or injected clocks.
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { importGraph } from './source-graph.ts';

const ROOT = resolve(import.meta.dirname, '..');
export const TEST_ROOTS = ['shared', 'kernels', 'coordinator', 'web', 'e2e'];
export const HARNESS_MODULES = [
  'e2e/chromium.ts',
  'e2e/platform-process.ts',
  'e2e/npm-start.ts',
  'coordinator/deploy/web-build.ts',
  'e2e/virtual-volunteer.ts',
];
export const SERIAL_MARK = 'test-lane: serial';

/** The test files (repository-relative) that must run one at a time, each with the harness module it reaches (or the mark). */
export function serialTestFiles(files: string[]): Map<string, string> {
  const graph = importGraph(TEST_ROOTS);
  const harness = new Set(HARNESS_MODULES.map((m) => join(ROOT, m)));
  const reach = new Map<string, string | null>();
  // Depth-first with memo; a cycle (none in production code, e2e/import-graph.test.ts) reads as "not yet".
  const harnessOf = (f: string): string | null => {
    if (harness.has(f)) return f;
    if (reach.has(f)) return reach.get(f)!;
    reach.set(f, null);
    for (const d of graph.get(f) ?? []) {
      const h = harnessOf(d);
      if (h) {
        reach.set(f, h);
        return h;
      }
    }
    return null;
  };
  const serial = new Map<string, string>();
  for (const f of files) {
    const abs = resolve(ROOT, f);
    if (readFileSync(abs, 'utf8').includes(SERIAL_MARK)) serial.set(f, SERIAL_MARK);
    else {
      const h = harnessOf(abs);
      if (h) serial.set(f, relative(ROOT, h));
    }
  }
  return serial;
}
