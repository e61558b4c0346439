// A Node test reporter beside the usual one (e2e/run-tests.ts adds it; plain JavaScript, as the
// test runner loads reporters before tsx): one JSON line per test file as it ends, with its wall
// time from the runner's own `test:complete` event for the file (process start, imports and
// every test in it), whether it passed and its lane (IDLEGRAD_TEST_LANE). e2e/test-durations.ts
// reads and summarizes them.
import { relative } from 'node:path';

export default async function* fileDurations(source) {
  const lane = process.env.IDLEGRAD_TEST_LANE ?? '';
  for await (const e of source) {
    // Node 20 wraps each file's subprocess in a test named by the file's path.
    const d = e.data;
    if (e.type !== 'test:complete' || d.nesting !== 0 || !d.file || d.name !== d.file) continue;
    yield (
      JSON.stringify({ file: relative(process.cwd(), d.file), ms: Math.round(d.details?.duration_ms ?? 0), passed: d.details?.passed !== false, lane }) + '\n'
    );
  }
}
