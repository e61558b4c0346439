// `nice -n 19 npx tsx e2e/gpt-small-screen.ts [--seeds 1,2] [--rounds 3] [--json] '{"lr":0.003,...}'`
//
// A CPU screen of the gpt-small swarm's inner and outer settings (issue 18): the swarm's own
// shape — 3 peers, `steps` inner AdamW steps of `batch` sequences a round, gpt-small's codec with
// error feedback, the run's aggregator and outer step — on the swarm's text (the generated
// grammar corpus, 60,000 bytes, seed 7) and its held-out sample (16 windows drawn with a seed),
// through e2e/sim.ts runScenario and the float64 CPU reference. It prints the held-out loss
// before round 0 and after each round, per seed. A gpt-small step costs seconds of CPU here, so
// keep screens to a few rounds; it exists so that a setting is chosen on the CPU reference,
// not by re-running the browser swarm until its loss happens to fall.
import { splitText } from '../coordinator/data/index.ts';
import { DEFAULT_GPT_SMALL_RUN } from '../shared/config.ts';
import { gptSpec, GPT_SMALL, initParams } from '../shared/model.ts';
import { evaluateModel } from '../shared/preset.ts';
import { grammarCorpus } from './grammar-corpus.ts';
import { runScenario, type Scenario, type SimData } from './sim.ts';

interface ScreenSettings {
  lr: number;
  beta2: number;
  warmup: number;
  steps: number;
  batch: number;
  outerLr: number;
  outerMomentum: number;
  peers: number;
}

const BASE: ScreenSettings = { lr: 0.003, beta2: 0.99, warmup: 0, steps: 2, batch: 1, outerLr: 1, outerMomentum: 0, peers: 3 };

function argOf(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const json = process.argv.includes('--json');
const settingsArg = process.argv.slice(2).find((a) => a.startsWith('{'));
const s: ScreenSettings = { ...BASE, ...(settingsArg ? (JSON.parse(settingsArg) as Partial<ScreenSettings>) : {}) };
const seeds = (argOf('seeds') ?? '1').split(',').map(Number);
const rounds = Number(argOf('rounds') ?? 3);

const run = DEFAULT_GPT_SMALL_RUN;
const spec = gptSpec(GPT_SMALL);
const bytes = grammarCorpus(60_000, 7);
const split = splitText(bytes, { T: GPT_SMALL.context, sample: { windows: run.heldOut!.windows, seed: 1 } }, 'grammar corpus');
const data: SimData = { mnist: null as unknown as SimData['mnist'], text: { ...split, name: 'grammar', unigram: 0 } };

const sc: Scenario = {
  name: 'gpt-small-screen',
  preset: 'gpt',
  gpt: GPT_SMALL,
  peers: s.peers,
  rounds,
  steps: s.steps,
  batchSize: s.batch,
  adamw: { ...run.inner.adamw, lr: s.lr, beta2: s.beta2, warmupSteps: s.warmup },
  outer: { lr: s.outerLr, momentum: s.outerMomentum },
  codec: run.codec,
  aggregator: run.aggregator,
  attack: null,
  byzantineFraction: 0,
  churn: 0,
  nonIid: false,
};

const out = seeds.map((seed) => {
  const start = evaluateModel(spec, initParams(spec, seed), split.test).loss;
  const r = runScenario(sc, seed, data, !json);
  return { seed, start, lossCurve: r.lossCurve, accuracyCurve: r.accuracyCurve, seconds: r.seconds };
});
const falls = out.every((r) => [r.start, ...r.lossCurve].every((l, i, a) => i === 0 || l < a[i - 1]));
if (json) console.log(JSON.stringify({ settings: s, rounds, runs: out, fallsEveryRound: falls }));
else
  for (const r of out)
    console.log(
      `${JSON.stringify(s)} seed ${r.seed}: ${[r.start, ...r.lossCurve].map((l) => l.toFixed(4)).join(' → ')} (${r.seconds.toFixed(0)} s)${falls ? '' : ' — does not fall every round'}`,
    );
