// Where a browser test file's time goes besides its own waits: the harness's fixed costs (the
// web build check, platform start and stop, Chromium launch), one JSON line each, appended to the
// file IDLEGRAD_HARNESS_TIMES names (e2e/run-tests.ts sets it; unset, nothing is written) and
// summed per test file in `npm test`'s closing summary (e2e/test-durations.ts).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

export const HARNESS_STEPS = ['web build', 'platform start', 'platform stop', 'browser launch'] as const;
export type HarnessStep = (typeof HARNESS_STEPS)[number];

export interface HarnessTime {
  /** The test file (relative to the repository root, as the duration reporter names it). */
  file: string;
  step: HarnessStep;
  ms: number;
}

/** Appends one step's time; `file` defaults to the script this process runs (a test file under `node --test`). */
export function recordHarnessTime(step: HarnessStep, ms: number, path = process.env.IDLEGRAD_HARNESS_TIMES, file = process.argv[1] ?? ''): void {
  if (!path) return;
  appendFileSync(path, JSON.stringify({ file: relative(process.cwd(), file), step, ms: Math.round(ms) } satisfies HarnessTime) + '\n');
}

/** Runs `work` and records how long it took, whether it succeeded or threw. */
export async function timedStep<T>(step: HarnessStep, work: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await work();
  } finally {
    recordHarnessTime(step, performance.now() - t0);
  }
}

/** The recorded lines; none when no harness step ran (a run of unit tests only). A malformed line is an error naming it. */
export function readHarnessTimes(path: string): HarnessTime[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      const t = JSON.parse(line) as HarnessTime;
      if (typeof t.file !== 'string' || !HARNESS_STEPS.includes(t.step) || !Number.isFinite(t.ms))
        throw new Error(`harness times: line ${i + 1} of ${path} is not a harness step: ${line}`);
      return t;
    });
}

/** Per step, how often it ran and its summed milliseconds, in HARNESS_STEPS order (steps that never ran left out). */
export function sumSteps(times: readonly HarnessTime[]): { step: HarnessStep; n: number; ms: number }[] {
  return HARNESS_STEPS.map((step) => {
    const of = times.filter((t) => t.step === step);
    return { step, n: of.length, ms: of.reduce((s, t) => s + t.ms, 0) };
  }).filter((s) => s.n > 0);
}

/** "platform start 2× 10.3 s, platform stop 2× 3.1 s, …" */
export const describeSteps = (times: readonly HarnessTime[]): string =>
  sumSteps(times)
    .map((s) => `${s.step} ${s.n}× ${(s.ms / 1000).toFixed(1)} s`)
    .join(', ');
