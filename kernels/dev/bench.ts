// `npm run bench -- [--json]`: matmul GFLOP/s and training-step rates of our kernels vs
// onnxruntime-web and TensorFlow.js, and our fused attention's time per token at two contexts,
// all in one headless-Chromium worker on the one WebGPU adapter there is (SwiftShader on a
// machine without a GPU). The work is kernels/dev/bench-worker.ts.
// Human-readable table on stdout; with --json stdout holds only the machine-readable summary
// { adapter, choice, matmul: [{ name, m, k, n, transA, transB, ours, ort, tfjs }],
// step: [{ model, batch, seqLen, ours, tfjs }], attention: [{ T, C, NH, B, ms, usPerToken }] }
// (the table then goes to stderr). Progress and notes go to stderr. A figure has no bar here: it
// is a ratio on one adapter, so only a failed run exits non-zero. Env: BENCH_REPS (default 5),
// BENCH_MIN_RUN_MS (default 200), BENCH_STEPS / BENCH_GPT_STEPS (steps per timed MLP / gpt-micro
// round, default 20 / 5), BENCH_SMALL_STEPS / BENCH_SMALL_REPS (gpt-small: steps per round,
// rounds; default 1 / 3).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { runInChromiumWorker } from './browser-harness.ts';
import type { BenchInput, BenchOutput } from './bench-worker.ts';
import { OPTIONAL_PACKAGES, requirePackages } from '../../web/optional-packages.ts';
import { cliOutput, parseCli, runCli, type CliOption, type CliSpec } from '../../shared/cli.ts';

const BENCH_CLI = {
  command: 'npm run bench --',
  summary: `Matmul GFLOP/s, training-step rates and fused attention of our kernels vs onnxruntime-web and TensorFlow.js in one
headless-Chromium worker. Env: BENCH_REPS (default 5), BENCH_MIN_RUN_MS (200), BENCH_STEPS (20), BENCH_GPT_STEPS (5),
BENCH_SMALL_STEPS (1), BENCH_SMALL_REPS (3).`,
  options: { json: { type: 'boolean', help: 'stdout holds only the summary as one JSON object' } },
} as const satisfies CliSpec<Record<string, CliOption>>;

async function main(): Promise<string[]> {
  const { json } = parseCli(BENCH_CLI);
  const log = cliOutput(!!json);
  // TensorFlow.js, the comparison column, is an optional dependency (npm install leaves it out).
  requirePackages(OPTIONAL_PACKAGES.tfjs, 'npm run bench (its TensorFlow.js column)');
  const envInt = (name: string, dflt: number) => {
    const v = process.env[name];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
  const input: BenchInput = {
    ortPath: '/ort/',
    reps: envInt('BENCH_REPS', 5),
    minRunMs: envInt('BENCH_MIN_RUN_MS', 200),
    steps: envInt('BENCH_STEPS', 20),
    gptSteps: envInt('BENCH_GPT_STEPS', 5),
    smallSteps: envInt('BENCH_SMALL_STEPS', 1),
    smallReps: envInt('BENCH_SMALL_REPS', 3),
  };
  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/webgpu'));
  const entry = fileURLToPath(new URL('./bench-worker.ts', import.meta.url));

  console.error(
    `bench: load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (1/5/15 min) at start`,
  );
  const out = await runInChromiumWorker<BenchOutput>(entry, {
    input,
    timeoutMs: 3_600_000,
    files: { '/ort/': ortDist },
    onConsole: (line) => console.error(line),
  });
  if (out.type === 'error') return [`${out.name}: ${out.message}`];

  const f = (x: number | null, digits: number) => (x === null ? 'n/a' : x.toFixed(digits));
  const ratio = (a: number | null, b: number | null) => (a === null || b === null ? 'n/a' : `${(a / b).toFixed(1)}×`);
  log.summary(
    `adapter: ${out.adapter.vendor}/${out.adapter.architecture} ${out.adapter.description} (TFJS saw ${out.tfjsAdapter}); our kernel variants (autotune, ${out.tuneSource}): ${JSON.stringify(out.choice)}`,
  );
  log.summary('data resident on the GPU for all three; timings end at queue drain (onSubmittedWorkDone), no readback; warm-up excluded; medians');
  log.summary('matmul GFLOP/s (ORT runs transposed layouts as the plain MatMul of the same M, K, N)');
  log.summary(`${'shape'.padEnd(26)} ${'M×K×N'.padEnd(14)} ${'ours'.padStart(8)} ${'ort'.padStart(8)} ${'tfjs'.padStart(8)}  ours/ort ours/tfjs`);
  for (const r of out.matmul) {
    const s = r.shape;
    const dims = `${s.M}×${s.K}×${s.N}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}`;
    log.summary(
      `${r.name.padEnd(26)} ${dims.padEnd(14)} ${f(r.ours, 3).padStart(8)} ${f(r.ort, 3).padStart(8)} ${f(r.tfjs, 3).padStart(8)}  ${ratio(r.ours, r.ort).padStart(8)} ${ratio(r.ours, r.tfjs).padStart(9)}`,
    );
  }
  log.summary(
    'training step (forward + backward + AdamW), dataset resident on the GPU, one readback per round; samples/s (GPT: sequences/s, seqLen tokens each)',
  );
  for (const r of out.step) {
    const what = `${r.model} batch ${r.batch}${r.seqLen ? ` × ${r.seqLen} tokens` : ''}`;
    const g = (x: number | null) => (x === null ? 'n/a' : x.toPrecision(3));
    log.summary(`${what.padEnd(44)} ours ${g(r.ours).padStart(9)}  tfjs ${g(r.tfjs).padStart(9)}  ${ratio(r.ours, r.tfjs)}`);
  }
  log.summary('fused causal attention, forward + backward (ours), one sequence; per token = per call / T');
  for (const r of out.attention) {
    log.summary(
      `T ${String(r.shape.T).padStart(5)}  C ${r.shape.C} NH ${r.shape.NH}  ${f(r.ms, 1).padStart(9)} ms  ${f(r.usPerToken, 1).padStart(8)} µs/token`,
    );
  }
  const [a0, a1] = [out.attention[0], out.attention[out.attention.length - 1]];
  if (a0 && a1 && a0 !== a1)
    log.summary(
      `time per token at T ${a1.shape.T} / at T ${a0.shape.T}: ${ratio(a1.usPerToken, a0.usPerToken)} (causal attention does T/2 key visits per token: ${(a1.shape.T / a0.shape.T).toFixed(1)}× the work per token)`,
    );
  for (const n of out.notes) console.error(`note: ${n}`);
  console.error(
    `bench: load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (1/5/15 min) at end`,
  );
  const round = (x: number | null) => (x === null ? null : Number(x.toPrecision(4)));
  log.json({
    adapter: out.adapter,
    choice: out.choice,
    matmul: out.matmul.map((r) => ({
      name: r.name,
      m: r.shape.M,
      k: r.shape.K,
      n: r.shape.N,
      transA: !!r.shape.transA,
      transB: !!r.shape.transB,
      ours: round(r.ours),
      ort: round(r.ort),
      tfjs: round(r.tfjs),
    })),
    step: out.step.map((r) => ({ model: r.model, batch: r.batch, seqLen: r.seqLen, ours: round(r.ours), tfjs: round(r.tfjs) })),
    attention: out.attention.map((r) => ({ ...r.shape, ms: round(r.ms), usPerToken: round(r.usPerToken) })),
  });
  return [];
}

runCli(BENCH_CLI, main);
