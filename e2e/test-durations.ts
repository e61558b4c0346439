// Where `npm test`'s time goes: reads the per-file lines e2e/test-durations-reporter.mjs wrote
// (each file's wall time as the test runner measured it) and prints the summary run-tests.ts
// ends with, so every CI log shows its slowest files.
import { readFileSync } from 'node:fs';
import { describeSteps, type HarnessTime } from './harness-times.ts';

export interface FileDuration {
  file: string;
  ms: number;
  passed: boolean;
  lane: string;
}

/** The lines a lane's reporter wrote; a lane that ran and wrote none is an error (the reporter failed to load). */
export function readDurations(path: string): FileDuration[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`test durations: the reporter wrote no ${path} (${(e as Error).message})`, { cause: e });
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FileDuration);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * The slowest `top` files with their seconds and lane, each lane's file-time sum, and the wall time;
 * with `harness` (e2e/harness-times.ts), the harness's fixed costs in all and beside each slow file.
 */
export function durationSummary(files: FileDuration[], wallMs: number, top = 15, harness: readonly HarnessTime[] = []): string {
  const lanes = new Map<string, { n: number; ms: number }>();
  for (const f of files) {
    const l = lanes.get(f.lane) ?? { n: 0, ms: 0 };
    l.n++;
    l.ms += f.ms;
    lanes.set(f.lane, l);
  }
  const slow = [...files].sort((a, b) => b.ms - a.ms).slice(0, top);
  const width = Math.max(0, ...slow.map((f) => f.file.length));
  const steps = (file: string) => describeSteps(harness.filter((h) => h.file === file));
  return [
    `test durations: ${files.length} files, wall ${seconds(wallMs)}; ${[...lanes].map(([k, v]) => `${k} lane ${v.n} files ${seconds(v.ms)} summed`).join(', ')}`,
    ...(harness.length ? [`harness fixed costs, all files: ${describeSteps(harness)}`] : []),
    `slowest ${slow.length}:`,
    ...slow.map((f) => {
      const h = steps(f.file);
      return `  ${seconds(f.ms).padStart(8)}  ${f.file.padEnd(width)}  ${f.lane}${f.passed ? '' : '  FAILED'}${h ? `  (${h})` : ''}`;
    }),
  ].join('\n');
}
