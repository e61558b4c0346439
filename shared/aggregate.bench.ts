// `npx tsx shared/aggregate.bench.ts [--json] [--volunteers N,N…] [--copies F] [--seed S] [--combine-versions V,V…]`
//
// The cross-cohort combine (aggregateUpdates with the default run's aggregator) at the inputs a
// round of N volunteers carries, built as npm run scale builds them (e2e/scale-run.ts): per
// cohort of 8, one relay member's own frame at the codec's density ρ and the other 7 members'
// aggregate at 1 − (1 − ρ)^7, each the run's direction plus as much noise, encoded with the real
// codec and decoded under the run's aggregate limits. A share --copies of the aggregates is
// followed by a planted near-copy of one (×1.001 plus noise at 1 % of its norm: cosine ≈ 0.9999,
// another hash), and the bench checks that every planted copy is refused as 'copycat'.
// Prints per N the aggregates, the CPU time of the checks alone (the run's aggregator as
// 'clipped-mean': the rejections, then one weighted sum), of the whole flat combine, of the
// hierarchical one (shared/robust-combine.ts, in this thread), of its level-1 groups (median, largest) and
// of its last level (the committer's share), and the copies caught of those planted; once per
// combine version (shared/aggregate.ts CombineVersion), each version's combine beside the first
// one's as relative L2 of the two updates (flat and hierarchical).
import { DEFAULT_RUN, runSpecOf } from './config.ts';
import { decodeFrame, encodeAggregate, hashFrame, toDense, type DecodedFrame } from './codec.ts';
import { aggregateLimits } from './round.ts';
import { aggregateUpdates, combineVersionOf, type CombineVersion } from './aggregate.ts';
import { combineCohorts, combineGroup } from './robust-combine.ts';
import { createRng, gaussian } from './rng.ts';
import { cliOutput, listOption, numberOption, parseCli, runCli, type CliOption, type CliSpec } from './cli.ts';
import type { Hex } from 'viem';

const CLI = {
  command: 'npx tsx shared/aggregate.bench.ts',
  summary: 'The cross-cohort combine at realistic density for N volunteers (cohorts of 8, one relay each), with planted near-copies.',
  options: {
    json: { type: 'boolean', help: 'stdout holds only the result as one JSON object' },
    volunteers: { type: 'string', arg: 'N,N…', default: '1000,10000', help: 'volunteer counts' },
    copies: { type: 'string', arg: 'F', default: '0.01', help: 'share of aggregates followed by a planted near-copy' },
    seed: { type: 'string', arg: 'S', default: '17', help: 'seed of the inputs' },
    'combine-versions': { type: 'string', arg: 'V,V…', default: '1,2', help: 'combine versions to time, each on the same inputs' },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

interface Row {
  volunteers: number;
  combineVersion: CombineVersion;
  /** Relative L2 of this version's flat / hierarchical update to the first version's. */
  flatRelL2: number;
  hierarchicalRelL2: number;
  aggregates: number;
  checksMs: number;
  combineMs: number;
  hierarchicalMs: number;
  groups: number;
  groupMsMax: number;
  groupMsMedian: number;
  topMs: number;
  planted: number;
  caught: number;
  excluded: Record<string, number>;
}

function inputs(volunteers: number, copies: number, seed: number) {
  const run = runSpecOf(1, { ...DEFAULT_RUN, combineVersion: 1 }, { name: 'mnist', trainCount: 1000, testCount: 64, features: 784, classes: 10 });
  const rand = createRng(seed);
  const rho = run.codec.density;
  const direction = Float32Array.from({ length: run.paramCount }, () => gaussian(rand) * 1e-3);
  const limits = aggregateLimits(run, 0);
  const dense = new Float32Array(run.paramCount);
  const sparse = (d: number) => {
    dense.fill(0);
    for (let i = Math.floor(Math.log(1 - rand()) / Math.log(1 - d)); i < dense.length; i += 1 + Math.floor(Math.log(1 - rand()) / Math.log(1 - d)))
      dense[i] = direction[i] + gaussian(rand) * 1e-3;
    return dense;
  };
  const of = (bytes: Uint8Array) => ({ hash: hashFrame(bytes), frame: decodeFrame(bytes, limits) });
  const header = (samples: number) => ({ paramTableHash: run.paramTableHash, run: run.id, round: 0, samples });
  const aggregates: { hash: Hex; frame: DecodedFrame }[] = [];
  const planted: Hex[] = [];
  for (let c = 0; c < Math.ceil(volunteers / run.cohortSize); c++) {
    aggregates.push(of(encodeAggregate(sparse(1 - (1 - rho) ** (run.cohortSize - 1)), run.codec.chunkSize, header(800 * (run.cohortSize - 1)))));
    aggregates.push(of(encodeAggregate(sparse(rho), run.codec.chunkSize, header(800))));
    if (rand() < copies) {
      const victim = aggregates[aggregates.length - 2 + Math.floor(rand() * 2)].frame;
      const norm = Math.sqrt(victim.values.reduce((s, v) => s + v * v, 0) / victim.values.length);
      dense.fill(0);
      victim.indices.forEach((i, j) => (dense[i] = victim.values[j] * 1.001 + gaussian(rand) * norm * 0.01));
      const copy = of(encodeAggregate(dense, run.codec.chunkSize, header(victim.header.samples)));
      aggregates.push(copy);
      // Of a pair, the higher hash is the one refused.
      const victimHash = aggregates.find((a) => a.frame === victim)!.hash;
      planted.push(copy.hash > victimHash ? copy.hash : victimHash);
    }
  }
  return { run, aggregates, planted };
}

const relativeL2 = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) ((d += (a[i] - b[i]) ** 2), (s += a[i] ** 2));
  return Math.sqrt(d / s);
};

/** CPU time (user + system) of this process since `from`, in ms: on a shared machine the figure that does not count the neighbours. */
const cpuMsSince = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};

async function main(): Promise<string[]> {
  const cli = parseCli(CLI);
  const out = cliOutput(cli.json === true);
  const volunteers = listOption(cli, 'volunteers')!.map((s) => numberOption({ volunteers: s }, 'volunteers', { min: 8, integer: true })!);
  const copies = numberOption(cli, 'copies', { min: 0, max: 1 })!;
  const seed = numberOption(cli, 'seed', { min: 0, integer: true })!;
  const versions = listOption(cli, 'combine-versions')!.map((v) => combineVersionOf(Number(v), '--combine-versions'));
  const rows: Row[] = [];
  for (const n of volunteers) {
    const built = inputs(n, copies, seed);
    const { aggregates, planted } = built;
    let first: { flat: Float32Array; hierarchical: Float32Array } | null = null;
    for (const combineVersion of versions) {
      const run = { ...built.run, combineVersion };
      out.progress(`${n} volunteers: ${aggregates.length} aggregates, combining at version ${combineVersion} …`);
      // The checks alone (limits, duplicates, empty, copycat): clipped-mean adds only a weighted sum to them.
      let t0 = process.cpuUsage();
      aggregateUpdates(aggregates, run.paramCount, { ...run.aggregator, kind: 'clipped-mean' });
      const checksMs = cpuMsSince(t0);
      t0 = process.cpuUsage();
      const result = aggregateUpdates(aggregates, run.paramCount, run.aggregator, combineVersion);
      const combineMs = cpuMsSince(t0);
      // The hierarchical combine in this thread: all its groups' CPU, then the last group's alone (what the committer's level costs).
      t0 = process.cpuUsage();
      const hierarchical = await combineCohorts(run, 0, aggregates);
      const hierarchicalMs = cpuMsSince(t0);
      const top = hierarchical.groups[hierarchical.groups.length - 1];
      const frames = new Map(aggregates.map((a) => [a.hash, a.frame]));
      const below = new Map<Hex, Uint8Array>();
      const groupMs: number[] = [];
      for (const g of hierarchical.groups.filter((x) => x.level === 1)) {
        const t1 = process.cpuUsage();
        const out = combineGroup(
          run,
          0,
          1,
          g.inputs.map((h) => ({ hash: h, frame: frames.get(h)! })),
        );
        groupMs.push(cpuMsSince(t1));
        below.set(out.hash, out.bytes);
      }
      t0 = process.cpuUsage();
      if (top.level > 1)
        combineGroup(
          run,
          0,
          top.level,
          top.inputs.map((h) => ({ hash: h, bytes: below.get(h)! })),
        );
      const topMs = top.level > 1 ? cpuMsSince(t0) : groupMs[0];
      const update = toDense(decodeFrame(hierarchical.bytes, aggregateLimits(run, 0)));
      first ??= { flat: result.dense, hierarchical: update };
      const copycat = new Set(result.excluded.filter((x) => x.reason === 'copycat').map((x) => x.hash));
      const excluded: Record<string, number> = {};
      for (const x of result.excluded) excluded[x.reason] = (excluded[x.reason] ?? 0) + 1;
      const row = {
        volunteers: n,
        combineVersion,
        flatRelL2: relativeL2(first.flat, result.dense),
        hierarchicalRelL2: relativeL2(first.hierarchical, update),
        aggregates: aggregates.length,
        checksMs: Math.round(checksMs),
        combineMs: Math.round(combineMs),
        hierarchicalMs: Math.round(hierarchicalMs),
        groups: hierarchical.groups.length,
        groupMsMax: Math.round(Math.max(...groupMs)),
        groupMsMedian: Math.round([...groupMs].sort((a, b) => a - b)[groupMs.length >> 1]),
        topMs: Math.round(topMs),
        planted: planted.length,
        caught: planted.filter((h) => copycat.has(h)).length,
        excluded,
      };
      out.summary(
        `${n} volunteers, ${row.aggregates} aggregates, combine version ${combineVersion}: CPU of the checks (copycat …) ${row.checksMs} ms, of the whole flat combine ${row.combineMs} ms, hierarchical ${row.hierarchicalMs} ms in ${row.groups} groups (level-1 groups: median ${row.groupMsMedian} ms, largest ${row.groupMsMax} ms; last level ${row.topMs} ms), copies caught ${row.caught}/${row.planted}, excluded ${JSON.stringify(excluded)}; relative L2 to version ${versions[0]}: flat ${row.flatRelL2.toExponential(2)}, hierarchical ${row.hierarchicalRelL2.toExponential(2)}`,
      );
      rows.push(row);
    }
  }
  out.json({ rows });
  return rows.filter((r) => r.caught < r.planted).map((r) => `${r.volunteers} volunteers: ${r.planted - r.caught} planted copies not refused`);
}

runCli(CLI, main);
