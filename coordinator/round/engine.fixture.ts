// What the in-process round-engine tests share (engine.test.ts, combine-record.test.ts): a fixed
// clock start, an MLP run spec on a tiny MNIST-shaped dataset, an 8-sample held-out set, the
// EIP-712 domain reports are signed for, and a fresh in-memory ledger holding the run at θ_0.
import { DEFAULT_RUN, modelOf, runSpecOf, type RunSettings, type RunSpec } from '../../shared/config.ts';
import { initParams } from '../../shared/model.ts';
import { runModelHash } from '../../shared/model-hash.ts';
import type { Hex, LocalAccount } from 'viem';
import { contributionTypedData, eip712Domain } from '../../shared/eip712.ts';
import { framesRoot } from '../../shared/aggregate.ts';
import { buildContribution } from '../../shared/round.ts';
import { contributionToJson } from '../../shared/wire/index.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { openDatabase, Ledger } from '../db/index.ts';
import type { RoundEngine, Session } from './engine.ts';

export const NOW = 1_800_000_000_000;

/** Run 1 over DEFAULT_RUN with `settings`; a long training window, 100 ms exchange and report phases unless `settings` says otherwise. */
export function engineTestRun(settings: Partial<RunSettings>): RunSpec {
  return runSpecOf(
    1,
    { ...DEFAULT_RUN, timing: { trainMs: 600_000, exchangeMs: 100, reportMs: 100 }, ...settings },
    { name: 'mnist', trainCount: 100, testCount: 8, features: 784, classes: 10 },
  );
}

export const heldOut: Dataset = {
  images: new Uint8Array(8 * 784).map((_, i) => (i * 37) % 256),
  labels: new Uint8Array(8).map((_, i) => i % 10),
  count: 8,
  features: 784,
  classes: 10,
};

export const domain = eip712Domain(31337, '0x0000000000000000000000000000000000000d15');

/** An in-memory PGlite ledger (and its database, to close) with `run` created at its seed's θ_0 (returned with it). */
export async function ledgerAtTheta0(run: RunSpec) {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), run.seed);
  const theta0 = { round: 0, modelHash: await runModelHash(run, params), params, momentum: new Float32Array(params.length) };
  await ledger.createRun(run, theta0);
  return { sql, ledger, params, theta0 };
}

/** reportRound0's message, signed by `key`: to hand to the engine later, at a chosen moment. */
export async function signedReport0(
  run: RunSpec,
  key: Pick<LocalAccount, 'signTypedData'>,
  r: { cohort: number; own: { hash: Hex }; agg: { aggregateHash: Hex; hashes: Hex[] }; samples: number; nonce: bigint },
) {
  const c = buildContribution({
    run: run.id,
    round: 0,
    cohort: r.cohort,
    frameHash: r.own.hash,
    aggregateHash: r.agg.aggregateHash,
    framesRoot: framesRoot(r.agg.hashes),
    residualHash: `0x${'00'.repeat(32)}`,
    samples: r.samples,
    steps: r.samples / run.inner.batchSize,
    lossBefore: 2.3,
    lossAfter: 2.1,
    computeMs: 100,
    nowMs: NOW,
    nonce: r.nonce,
  });
  const signature = await key.signTypedData(contributionTypedData(domain, c));
  return { type: 'report' as const, contribution: contributionToJson(c), signature, frameHashes: r.agg.hashes };
}

/**
 * `key` signs and `session` sends round 0's report of `samples` samples for its frame `own` in
 * cohort `cohort`, naming the aggregate `agg` (its hash and frame hashes); the engine's answer.
 */
export async function reportRound0(
  engine: RoundEngine,
  run: RunSpec,
  session: Session,
  key: Pick<LocalAccount, 'signTypedData'>,
  r: { cohort: number; own: { hash: Hex }; agg: { aggregateHash: Hex; hashes: Hex[] }; samples: number; nonce: bigint },
) {
  return engine.handleReport(session, await signedReport0(run, key, r));
}
