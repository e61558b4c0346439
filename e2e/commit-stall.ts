// `nice -n 19 npx tsx e2e/commit-stall.ts [--preset gpt-small] [--cohorts 1] [--json]`
//
// How long the coordinator's event loop is held, phase by phase, while a round is uploaded and
// committed (issue 18: the fifth gpt-small swarm's pages all lost their PeerJS signalling socket
// during round 0, whose commit took 146 s). It drives the real RoundEngine — the upload thread,
// signed reports through the signature thread and the ledger's pending batch, the combine
// thread, the outer step and the chunked model hash, the held-out evaluation thread, the
// ledger's commit on the PGlite thread, the published update — at the swarm's shape: the
// preset's parameter count and codec, the swarm's run settings (e2e/swarm.ts GPT_SWARM_RUNS),
// `cohorts` cohorts of 3 members (the swarm: 1), each member's frame a random update at the
// codec's density, each cohort's aggregate as its members compute it. After the commit it
// builds the snapshot a returning page's /sync asks for. A timer watches the loop throughout
// (coordinator/ops/loop-blocks.ts) and each block is charged to the phase it started in.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  DEFAULT_VERIFICATION,
  maxSamplesPerReport,
  modelOf,
  PRESET_DEFAULTS,
  runSpecOf,
  type GptPreset,
  type RunSettings,
  type RunSpec,
} from '../shared/config.ts';
import { decodeFrame } from '../shared/codec.ts';
import { cohortAggregate, encodeOwnUpdate, peerUpdateLimits } from '../shared/round.ts';
import { initParams } from '../shared/model.ts';
import { runModelHash } from '../shared/model-hash.ts';
import type { Dataset } from '../shared/mlp.ts';
import type { RoundSummary } from '../shared/wire/index.ts';
import { runData } from '../coordinator/data/index.ts';
import { openDatabase, Ledger } from '../coordinator/db/index.ts';
import { RoundEngine, type Session } from '../coordinator/round/engine.ts';
import { domain, NOW, signedReport0 } from '../coordinator/round/engine.fixture.ts';
import { blocksByPhase, watchLoop, type PhaseSpan } from '../coordinator/ops/loop-blocks.ts';
import { grammarCorpus } from './grammar-corpus.ts';

/** The swarm's run settings for a GPT preset (e2e/swarm.ts GPT_SWARM_RUNS, repeated here so this file does not load the browser harness). */
export function swarmRunOf(preset: GptPreset, overrides: Partial<RunSettings> = {}): { run: RunSpec; heldOut: Dataset } {
  const base = PRESET_DEFAULTS[preset];
  const settings: RunSettings = {
    ...base,
    inner: { steps: preset === 'gpt-base' ? 1 : 2, batchSize: 1, adamw: { lr: 0.001, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 } },
    outer: { lr: 1, momentum: 0 },
    timing: { trainMs: 300_000, exchangeMs: 30_000, reportMs: 20_000 },
    verification: { ...DEFAULT_VERIFICATION, newIdentityRate: 0.34, heldOutSamples: 2 },
    ...overrides,
  };
  const data = runData(settings, grammarCorpus(60_000, 7), () => {
    throw new Error('a GPT run has no MNIST');
  });
  return { run: runSpecOf(1, settings, data.dataset), heldOut: data.test };
}

export interface CommitStall {
  paramCount: number;
  cohorts: number;
  members: number;
  aggregateBytes: number;
  updateBytes: number;
  modelHash: string;
  heldOutLoss: number;
  /** Contributions the commit accepted (all `members` unless an aggregator refused some). */
  contributions: number;
  /** Wall time of each phase, ms. */
  phaseMs: Record<string, number>;
  /** Of which the event loop was busy running code (performance.eventLoopUtilization's active time), ms: timed phases only. */
  busyMs: Record<string, number>;
  /** The longest block that started in each phase (and `between phases`), ms; with the total and count of blocks ≥ minMs. */
  blocks: Record<string, { longestMs: number; totalMs: number; count: number }>;
  /** The longest block seen from the first upload to the snapshot, ms (timer), and monitorEventLoopDelay's maximum. */
  longestMs: number;
  histogramMaxMs: number;
  /** From the commit's start to the `committed` event (the platform log's close → commit). */
  commitMs: number;
}

/**
 * One round of `run` at θ_0: `cohorts` cohorts of `perCohort` members upload their cohort's
 * aggregate and report, the round commits, the snapshot is built; the loop is watched all along.
 * The ledger is a PGlite database on its thread in a temporary directory, as the platform's.
 */
export async function measureCommit(run: RunSpec, heldOut: Dataset, { cohorts = 1, perCohort = 3, minMs = 20 } = {}): Promise<CommitStall> {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-commit-stall-'));
  const sql = await openDatabase({ dataDir: dir });
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), run.seed);
  const theta0 = { round: 0, modelHash: await runModelHash(run, params), params, momentum: new Float32Array(params.length) };
  await ledger.createRun(run, theta0);
  let committed!: (s: RoundSummary) => void;
  const summary = new Promise<RoundSummary>((r) => (committed = r));
  const members = cohorts * perCohort;
  const runOf = { ...run, cohortSize: perCohort, minVolunteers: members };
  const engine = new RoundEngine(
    runOf,
    { ...theta0, params: params.slice() },
    ledger,
    heldOut,
    domain,
    { committed: (s) => committed(s), accountsChanged: () => {} },
    () => NOW,
  );
  try {
    const keys = Array.from({ length: members }, () => privateKeyToAccount(generatePrivateKey()));
    const sessions: Session[] = keys.map((k, i) => ({ id: i, address: k.address.toLowerCase() as Address, peerId: `peer-${i}`, ready: true, send: () => {} }));
    for (const s of sessions) engine.addSession(s);
    engine.maybeStartRound();
    const open = engine.openRound;
    if (!open || open.cohorts.length !== cohorts) throw new Error(`expected ${cohorts} cohorts to open, got ${open?.cohorts.length ?? 'no round'}`);

    // What the members compute before the round's upload: their frames (a random update at the
    // codec's density, as a page's is) and each cohort's aggregate.
    const samples = Math.min(maxSamplesPerReport(runOf), runOf.inner.steps * runOf.inner.batchSize);
    let seed = 1;
    const gauss = () => {
      // xorshift-seeded Box–Muller: deterministic, gradient-like values.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      const u = ((seed >>> 0) + 1) / 4294967297;
      return Math.sqrt(-2 * Math.log(u)) * Math.cos((6.283185307 * ((seed * 2654435761) >>> 0)) / 4294967296);
    };
    const byAddress = new Map(sessions.map((s, i) => [s.address, { s, key: keys[i] }]));
    // Members train the same model on different data: their updates share a direction (else the
    // aggregators' direction vote refuses some of them and the commit applies less than a swarm's).
    const common = new Float32Array(runOf.paramCount).map(() => gauss() * 1e-3);
    const work = open.cohorts.map((c, cohort) => {
      const held = c.map((m) => {
        const own = encodeOwnUpdate(
          runOf,
          0,
          common.map((x) => x + gauss() * 5e-4),
          samples,
        );
        return { address: m.address, own, frame: decodeFrame(own.bytes, peerUpdateLimits(runOf, 0)) };
      });
      const agg = cohortAggregate(
        runOf,
        0,
        { address: held[0].address, hash: held[0].own.hash, frame: held[0].frame },
        held.slice(1).map((h) => ({ address: h.address, hash: h.own.hash, frame: h.frame })),
      );
      return { cohort, held, agg };
    });
    const reports = await Promise.all(
      work.flatMap(({ cohort, held, agg }) =>
        held.map(async (h, i) => ({
          session: byAddress.get(h.address)!.s,
          msg: await signedReport0(runOf, byAddress.get(h.address)!.key, { cohort, own: h.own, agg, samples, nonce: BigInt(cohort * 100 + i + 1) }),
        })),
      ),
    );

    const phases: PhaseSpan[] = [];
    /** Milliseconds the loop was busy (not waiting for events) in each phase: what a starved, idle loop does not add. */
    const busyMs: Record<string, number> = {};
    const span = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const elu = performance.eventLoopUtilization();
      try {
        return await fn();
      } finally {
        phases.push({ name, start, end: performance.now() });
        busyMs[name] = (busyMs[name] ?? 0) + performance.eventLoopUtilization(elu).active;
      }
    };
    // The engine's own helpers, timed where they are called (private: reached by name).
    const inner = engine as unknown as Record<string, Record<string, (...a: unknown[]) => unknown>>;
    const timeAsync = (obj: Record<string, (...a: unknown[]) => unknown>, method: string, name: string) => {
      const f = obj[method].bind(obj);
      obj[method] = (...a: unknown[]) => span(name, () => f(...a) as Promise<unknown>);
    };
    timeAsync(inner.combiner, 'combine', 'combine (thread)');
    timeAsync(inner.evaluator, 'evaluate', 'held-out evaluation (thread)');
    timeAsync(ledger as unknown as Record<string, (...a: unknown[]) => unknown>, 'commitRound', 'ledger commit (thread)');

    const watch = watchLoop({ minMs });
    await span('uploads and reports', async () => {
      await Promise.all(work.map((w) => engine.handleAggregate(0, w.agg.bytes)));
      await Promise.all(reports.map((r) => engine.handleReport(r.session, r.msg)));
    });
    const commitStart = performance.now();
    await span('commit', () => engine.commit());
    const s = await summary;
    const commitMs = performance.now() - commitStart;
    await span('snapshot for /sync', async () => void engine.published.snapshot());
    const { blocks, longestMs, histogramMaxMs } = watch.stop();

    // The commit's stretches between the timed helpers: the engine's own code on the loop.
    const at = (name: string) => phases.find((p) => p.name === name);
    const commit = at('commit')!;
    const derived: PhaseSpan[] = [];
    const combine = phases.filter((p) => p.name === 'combine (thread)');
    const evalSpan = at('held-out evaluation (thread)');
    const ledgerSpan = at('ledger commit (thread)');
    if (combine.length) derived.push({ name: 'commit: settle, decide, state copies', start: commit.start, end: combine[0].start });
    if (combine.length && evalSpan) derived.push({ name: 'commit: outer step and model hash', start: combine[combine.length - 1].end, end: evalSpan.start });
    if (evalSpan && ledgerSpan) derived.push({ name: 'commit: summary', start: evalSpan.end, end: ledgerSpan.start });
    if (ledgerSpan) derived.push({ name: 'commit: publish, acks, broadcast', start: ledgerSpan.end, end: commit.end });
    const all = [...phases, ...derived];
    const charged = blocksByPhase(blocks, all);
    const phaseMs: Record<string, number> = {};
    for (const p of all) phaseMs[p.name] = (phaseMs[p.name] ?? 0) + (p.end - p.start);
    return {
      paramCount: runOf.paramCount,
      cohorts,
      members,
      aggregateBytes: work[0].agg.bytes.byteLength,
      updateBytes: s.updateBytes,
      modelHash: s.modelHash,
      heldOutLoss: s.heldOutLoss,
      contributions: s.contributions,
      phaseMs,
      busyMs,
      blocks: Object.fromEntries(charged),
      longestMs,
      histogramMaxMs,
      commitMs,
    };
  } finally {
    engine.stop();
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { preset: { type: 'string', default: 'gpt-small' }, cohorts: { type: 'string', default: '1' }, json: { type: 'boolean', default: false } },
  });
  const preset = values.preset as GptPreset;
  if (!['gpt-micro', 'gpt-small', 'gpt-base'].includes(preset)) throw new Error(`--preset: expected gpt-micro, gpt-small or gpt-base, got ${values.preset}`);
  const cohorts = Number(values.cohorts);
  if (!Number.isInteger(cohorts) || cohorts < 1) throw new Error(`--cohorts: expected a positive integer, got ${values.cohorts}`);
  const { run, heldOut } = swarmRunOf(preset);
  const r = await measureCommit(run, heldOut, { cohorts });
  if (values.json) return void console.log(JSON.stringify(r, null, 2));
  const f = (ms: number) => `${ms.toFixed(0).padStart(7)} ms`;
  console.log(
    `${preset}: ${r.paramCount.toLocaleString()} parameters, ${r.cohorts} cohort(s) of ${r.members / r.cohorts}, aggregate ${r.aggregateBytes.toLocaleString()} B, update ${r.updateBytes.toLocaleString()} B, ${r.contributions} contributions accepted`,
  );
  console.log(
    `commit ${f(r.commitMs)}; longest block ${f(r.longestMs)} (monitorEventLoopDelay max ${f(r.histogramMaxMs)}); h=${r.modelHash}, held-out loss ${r.heldOutLoss.toFixed(4)}`,
  );
  console.log(`${'phase'.padEnd(40)} ${'wall'.padStart(10)} ${'loop busy'.padStart(10)} ${'longest'.padStart(10)} ${'blocked'.padStart(10)}`);
  const names = new Set([...Object.keys(r.phaseMs), ...Object.keys(r.blocks)]);
  for (const n of names)
    console.log(
      `${n.padEnd(40)} ${f(r.phaseMs[n] ?? 0)} ${r.busyMs[n] === undefined ? ''.padStart(10) : f(r.busyMs[n])} ${f(r.blocks[n]?.longestMs ?? 0)} ${f(r.blocks[n]?.totalMs ?? 0)}`,
    );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
