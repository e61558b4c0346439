import { DEFAULT_RUN, runSpecOf } from './shared/config.ts';
import { decodeFrame, encodeAggregate, hashFrame } from './shared/codec.ts';
import { aggregateLimits } from './shared/round.ts';
import { createRng, gaussian } from './shared/rng.ts';
import { CombineThread } from './coordinator/round/combine-thread.ts';
import { threadCpuMs } from './coordinator/round/commit-phases.ts';
import { loadavg } from 'node:os';
const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 1000, testCount: 64, features: 784, classes: 10 });
const rand = createRng(5);
const rho = run.codec.density;
const dir = Float32Array.from({ length: run.paramCount }, () => gaussian(rand) * 1e-3);
const limits = aggregateLimits(run, 0);
const dense = new Float32Array(run.paramCount);
const aggs = [];
for (let c = 0; c < 625; c++) for (const d of [1 - (1 - rho) ** 7, rho]) {
  dense.fill(0);
  for (let i = 0; i < dense.length; i++) if (rand() < d) dense[i] = dir[i] + gaussian(rand) * 1e-3;
  const bytes = encodeAggregate(dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 0, samples: d > 0.1 ? 5600 : 800 });
  aggs.push({ hash: hashFrame(bytes), frame: decodeFrame(bytes, limits) });
}
const modes = process.argv.slice(2).map(Number);
const pools = new Map(modes.map((n) => [n, new CombineThread(run, n)]));
await new Promise((r) => setTimeout(r, 2000));
for (let rep = 0; rep < 3; rep++)
  for (const n of modes) {
    const ct = pools.get(n)!;
    const c0 = ct.cpuMs!, l0 = threadCpuMs()!, t0 = performance.now();
    const out = await ct.combine(0, aggs);
    console.log(JSON.stringify({ threads: n, wallMs: Math.round(performance.now() - t0), workerCpuMs: Math.round(ct.cpuMs! - c0), loopCpuMs: Math.round(threadCpuMs()! - l0), groups: out.groups.length, hash: hashFrame(out.bytes).slice(0, 12), load: loadavg()[0].toFixed(2) }));
  }
for (const p of pools.values()) p.stop();
process.exit(0);
