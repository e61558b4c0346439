// The lead dashboard's ledger queries (shared/dashboard.ts RunInsights), added to every
// `dashboard` push by server.ts through ServerDeps.insights.
import type { Address } from 'viem';
import { modelOf, type RunSpec } from '../../shared/config.ts';
import { trainingFlopsPerSample } from '../../shared/preset.ts';
import type { RejectionCode, RoundOutcome, RunInsights } from '../../shared/wire/index.ts';
import type { Sql } from './sql.ts';

/** Outcomes of the last `rounds` rounds; leaderboard of the top `top` accounts by credit. */
export async function runInsights(sql: Sql, run: RunSpec, opts: { rounds?: number; top?: number } = {}): Promise<RunInsights> {
  const runId = run.id;
  const { rows: perRound } = await sql.query<{ round: number; state: string; verification: string | null; code: RejectionCode | null; n: number }>(
    `select round, state, verification, reason_code as code, count(*)::int as n
       from contributions where run_id = $1 and round >= (select coalesce(max(round), 0) from rounds where run_id = $1) - $2
      group by round, state, verification, reason_code`,
    [runId, opts.rounds ?? 1000],
  );
  const { rows: seats } = await sql.query<{ round: number; volunteers: number }>(
    `select round, volunteers from rounds where run_id = $1 order by round desc limit $2`,
    [runId, opts.rounds ?? 1000],
  );
  const { rows: cohorts } = await sql.query<{ round: number; n: number }>(
    `select round, count(distinct cohort)::int as n from contributions where run_id = $1 group by round`,
    [runId],
  );
  const cohortsOf = new Map(cohorts.map((c) => [Number(c.round), Number(c.n)]));
  const byRound = new Map<number, RoundOutcome>();
  for (const s of seats) {
    const round = Number(s.round);
    byRound.set(round, {
      round,
      reports: 0,
      accepted: 0,
      rejected: 0,
      verified: 0,
      failed: 0,
      sampled: 0,
      cohorts: cohortsOf.get(round) ?? 0,
      stragglers: Number(s.volunteers),
      codes: [],
    });
  }
  for (const r of perRound) {
    const o = byRound.get(Number(r.round));
    if (!o) continue; // the open round: not committed yet
    o.reports += r.n;
    o.stragglers = Math.max(0, o.stragglers - r.n);
    if (r.state === 'rejected') {
      o.rejected += r.n;
      if (r.code && !o.codes.includes(r.code)) o.codes.push(r.code);
    } else if (r.state !== 'pending') o.accepted += r.n;
    if (r.verification === 'passed') o.verified += r.n;
    else if (r.verification === 'failed') o.failed += r.n;
    else if (r.verification === 'sampled') o.sampled += r.n;
  }
  const { rows: leaders } = await sql.query<{ account: Address; contributions: number; samples: number; credit: string }>(
    `select beneficiary as account, count(*)::int as contributions, coalesce(sum(samples), 0)::int as samples, sum(credit_wei)::text as credit
       from contributions where run_id = $1 and state <> 'rejected' and state <> 'pending'
      group by beneficiary order by sum(credit_wei) desc, beneficiary limit $2`,
    [runId, opts.top ?? 20],
  );
  return {
    denseBytes: run.paramCount * 4,
    flopsPerSample: trainingFlopsPerSample(modelOf(run)),
    outcomes: [...byRound.values()].sort((a, b) => a.round - b.round),
    leaderboard: leaders.map((l) => ({ account: l.account, contributions: Number(l.contributions), samples: Number(l.samples), creditWei: l.credit ?? '0' })),
  };
}
