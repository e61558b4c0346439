// Samples/s of the MLP trainer, in Node/Dawn, in a headless-Chromium worker, and in three
// Chromium tabs at once (volunteers sharing one machine), at the shapes rounds are sized for.
// Not a test: `node --import tsx --import ./kernels/wgsl-register.mjs kernels/dev/bench-trainer.ts
// [node|chromium|tabs]` (BENCH_STEPS: steps per timed round, default 50). Numbers compare
// shapes on one adapter in one run; other load on the machine shows up in them.
import { useSwiftShaderWhenNoDriver } from '../swiftshader.ts';
import { fileURLToPath } from 'node:url';
import { benchTrainer, type BenchCase, type BenchReport } from './bench-entry.ts';
import { runInChromiumWorker, runInChromiumWorkers } from './browser-harness.ts';
import { createNodeGpu } from '../node-gpu.ts';

const steps = Number(process.env.BENCH_STEPS ?? 50);
const cases: BenchCase[] = [
  { sizes: [784, 128, 10], batchSize: 32, steps },
  { sizes: [784, 64, 10], batchSize: 32, steps },
  { sizes: [784, 64, 10], batchSize: 64, steps },
];

function print(where: string, r: BenchReport) {
  if (r.type === 'error') {
    console.log(`${where}: ${r.name}: ${r.message}`);
    return;
  }
  console.log(`${where} (adapter ${r.adapter.vendor}/${r.adapter.architecture})`);
  for (const row of r.rows) {
    console.log(
      `  [${row.sizes.join(', ')}] batch ${String(row.batchSize).padStart(3)}: ${row.msPerStep.toFixed(1).padStart(7)} ms/step ` +
        `${row.samplesPerSec.toFixed(0).padStart(6)} samples/s  (round of ${row.steps}: wall ${row.wallMs.toFixed(0)} ms, submit→readback ${row.gpuMs.toFixed(0)} ms)`,
    );
  }
}

const which = process.argv[2];
if (!which || which === 'node') {
  useSwiftShaderWhenNoDriver();
  print('node/dawn', await benchTrainer(createNodeGpu(), cases));
}
if (!which || which === 'chromium') {
  const entry = fileURLToPath(new URL('./bench-entry.ts', import.meta.url));
  print('chromium worker', await runInChromiumWorker<BenchReport>(entry, { input: { cases }, timeoutMs: 300_000 }));
}
if (!which || which === 'tabs') {
  const entry = fileURLToPath(new URL('./bench-entry.ts', import.meta.url));
  const tabs = 3;
  const reports = await runInChromiumWorkers<BenchReport>(entry, { input: { cases }, timeoutMs: 600_000, pages: tabs });
  reports.forEach((r, i) => print(`chromium, tab ${i + 1} of ${tabs} running at once`, r));
  const rows = reports.flatMap((r) => (r.type === 'bench' ? [r.rows] : []));
  if (rows.length === tabs) {
    console.log(`all ${tabs} tabs together`);
    cases.forEach((c, k) => {
      const total = rows.reduce((s, r) => s + r[k].samplesPerSec, 0);
      console.log(`  [${c.sizes.join(', ')}] batch ${String(c.batchSize).padStart(3)}: ${total.toFixed(0).padStart(6)} samples/s summed over tabs`);
    });
  }
}
