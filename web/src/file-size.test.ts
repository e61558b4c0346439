// Issue 13: no file under web/src/ grows past 500 lines — a module that needs more holds more
// than one job (the volunteer client was one 1,500-line class before it was split).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const MAX_LINES = 500;
const root = new URL('.', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

test(`no file under web/src/ is longer than ${MAX_LINES} lines`, () => {
  const all = files(root);
  assert.ok(
    all.some((f) => f.endsWith('volunteer.ts')),
    `found no sources under ${root}: the check would pass for nothing`,
  );
  const long = all.map((f) => ({ f, lines: readFileSync(f, 'utf8').split('\n').length - 1 })).filter((x) => x.lines > MAX_LINES);
  assert.deepEqual(
    long.map((x) => `${x.f.slice(root.length)}: ${x.lines} lines`),
    [],
  );
});
