// `npm test`: every *.test.ts in the tree, through Node's test runner, in two lanes
// (e2e/test-lanes.ts): first the files that share nothing with another (two at a time with
// IDLEGRAD_TEST_CONCURRENCY=2); then
// those that drive Chromium, start a platform, build dist/ or measure wall time, one at a time
// (a second file on the two cores would move their figures). Sets the Vulkan driver for Dawn to
// Chromium's SwiftShader when the machine has no other (kernels/swiftshader.ts, DESIGN.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useSwiftShaderWhenNoDriver } from '../kernels/swiftshader.ts';
import { compileContracts, PREBUILT_CONTRACTS_DIR } from '../coordinator/chain/index.ts';
import { serialTestFiles, TEST_ROOTS } from './test-lanes.ts';
import { durationSummary, readDurations } from './test-durations.ts';
import { readHarnessTimes } from './harness-times.ts';

const files: string[] = [];
const walk = (dir: string) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
for (const r of TEST_ROOTS) if (existsSync(r)) walk(r);
const only = process.argv.slice(2);
const selected = (only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files).sort();

const lanes = serialTestFiles(selected);
const serial = selected.filter((f) => lanes.has(f));
const parallel = selected.filter((f) => !lanes.has(f));

const env = { ...process.env };
useSwiftShaderWhenNoDriver(env);

// Each file's wall time goes to a JSON-lines file beside the usual report (the test runner's
// default: spec on a terminal, TAP otherwise), for the summary at the end.
const durationsDir = mkdtempSync(join(tmpdir(), 'idlegrad-test-durations-'));
// And the harness's fixed costs in each file (platform start and stop, Chromium launch: e2e/harness-times.ts).
const harnessTimes = join(durationsDir, 'harness.jsonl');
env.IDLEGRAD_HARNESS_TIMES = harnessTimes;
const reporter = process.stdout.isTTY ? 'spec' : 'tap';

// --test-force-exit: the `peer` PeerServer re-arms two internal timers forever and has no
// way to stop them, so a test file that ran the coordinator in-process would never exit.
const lane = (name: string, group: string[], concurrency: number): number => {
  if (!group.length) return 0;
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './kernels/wgsl-register.mjs',
      '--test',
      `--test-concurrency=${concurrency}`,
      '--test-force-exit',
      `--test-reporter=${reporter}`,
      '--test-reporter-destination=stdout',
      '--test-reporter=./e2e/test-durations-reporter.mjs',
      `--test-reporter-destination=${join(durationsDir, `${name}.jsonl`)}`,
      ...group,
    ],
    { stdio: 'inherit', env: { ...env, IDLEGRAD_TEST_LANE: name } },
  );
  return r.status ?? 1;
};

// Every platform a test starts on a fresh data directory would compile the reward contracts
// (solc-js, seconds of CPU each): compile them once, as `npm run build` does, into dist/contracts,
// which a coordinator reads first when its content key matches (coordinator/chain/compile.ts).
await compileContracts({ cacheDir: PREBUILT_CONTRACTS_DIR });

// The first lane's two-at-a-time has not yet passed a whole clean-clone run (it was measured
// only at load 26–45, where PGlite tests hit their time limits): one at a time unless
// IDLEGRAD_TEST_CONCURRENCY=2 asks for it.
const concurrency = Math.max(1, Math.min(4, Number(process.env.IDLEGRAD_TEST_CONCURRENCY) || 1));
console.log(`running ${selected.length} test files: ${parallel.length} ${concurrency} at a time, then ${serial.length} one at a time`);
const t0 = Date.now();
const first = lane('shared-nothing', parallel, concurrency);
const second = lane('serial', serial, 1);
try {
  const ran = [parallel.length ? 'shared-nothing' : '', serial.length ? 'serial' : ''].filter(Boolean);
  console.log(
    `\n${durationSummary(
      ran.flatMap((l) => readDurations(join(durationsDir, `${l}.jsonl`))),
      Date.now() - t0,
      15,
      readHarnessTimes(harnessTimes),
    )}`,
  );
} catch (e) {
  console.error((e as Error).message);
}
rmSync(durationsDir, { recursive: true, force: true });
process.exit(first || second);
