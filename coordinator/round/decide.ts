// The commit decision (DESIGN.md step 6), pure: from the open round's cohorts, the reports
// its members signed and the aggregates uploaded, which reports are accepted (with their
// credit), which are rejected and why (a RejectionCode), which aggregates go into the combine
// and which are withheld from it (quarantined cohorts). No ledger, no clock, no network:
// RoundEngine.commit evaluates and records what this returns.
//
// Per cohort, among the members that reported:
//   - the winner is the uploaded aggregate voted by at least ⌈2/3⌉ of them and by at least
//     two (the most votes; ties by hash): its voters whose frame it includes are accepted,
//     and a voter it leaves out (the aggregator refused its frame) is LEFT_OUT;
//   - relay mode: a member whose aggregate is its own frame alone, uploaded, and not already
//     in the winner, is accepted on its own (once per aggregate hash in the round);
//   - everyone else is NO_QUORUM, or AGGREGATE_MISSING when what it signed was never uploaded.
// A quarantined cohort's chosen aggregates are withheld: its members are accepted (so their
// work is spot-checked and paid if honest) but their update is never applied.
import type { Address, Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import type { Rejection } from '../../shared/wire/index.ts';

/** What decideRound reads of one signed report. */
export interface RoundReport {
  id: number;
  account: Address;
  cohort: number;
  frameHash: Hex;
  /** Lower-case: the aggregate this member signed. */
  aggregateHash: Hex;
  /** The frames the member saw in its cohort (its aggregate's inputs). */
  frameHashes: Hex[];
  samples: number;
}

/** The open round as decideRound sees it; F is the uploaded aggregate (a decoded frame in the engine). */
export interface OpenRoundView<F> {
  cohorts: { address: Address }[][];
  /** In arrival order. */
  reports: Iterable<RoundReport>;
  /** Uploaded aggregates (and relay members' own frames) by hash. */
  aggregates: ReadonlyMap<Hex, F>;
  /** Cohort indices of quarantined identities. */
  quarantined: ReadonlySet<number>;
}

export interface ChosenAggregate<F> {
  hash: Hex;
  frame: F;
}

export interface RoundDecision<F> {
  accepted: { id: number; creditWei: bigint }[];
  rejected: { id: number; rejection: Rejection }[];
  /** Aggregates the combine takes, in cohort order. */
  applied: ChosenAggregate<F>[];
  /** Aggregates accepted for checking but left out of the model (quarantined cohorts). */
  withheld: ChosenAggregate<F>[];
}

/** The quorum: at least two thirds of a cohort's reporting members (and never fewer than two). */
export function quorumOf(reporting: number): number {
  return Math.max(2, Math.ceil((2 * reporting) / 3));
}

export function decideRound<F>(open: OpenRoundView<F>, run: Pick<RunSpec, 'rewards'>): RoundDecision<F> {
  const weiPerSample = BigInt(run.rewards.weiPerSample);
  const decision: RoundDecision<F> = { accepted: [], rejected: [], applied: [], withheld: [] };
  const chosenHashes = new Set<Hex>();
  const byCohort = new Map<number, RoundReport[]>();
  for (const r of open.reports) byCohort.get(r.cohort)?.push(r) ?? byCohort.set(r.cohort, [r]);
  open.cohorts.forEach((_members, cohort) => {
    const reports = byCohort.get(cohort) ?? [];
    const chosen: ChosenAggregate<F>[] = [];
    const choose = (hash: Hex) => {
      chosen.push({ hash, frame: open.aggregates.get(hash)! });
      chosenHashes.add(hash);
    };
    const byAgg = new Map<Hex, RoundReport[]>();
    for (const r of reports) byAgg.set(r.aggregateHash, [...(byAgg.get(r.aggregateHash) ?? []), r]);
    const quorum = quorumOf(reports.length);
    // The best-supported uploaded aggregate with a quorum; ties by hash for determinism.
    const winner = [...byAgg.entries()]
      .filter(([h, voters]) => open.aggregates.has(h) && voters.length >= quorum)
      .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))[0];
    const inWinner = new Set(winner?.[1][0].frameHashes ?? []);
    const inAggregate = new Set<Address>();
    if (winner) {
      choose(winner[0]);
      for (const r of reports) if (inWinner.has(r.frameHash) && r.aggregateHash === winner[0]) inAggregate.add(r.account);
    }
    for (const r of reports) {
      if (inAggregate.has(r.account)) continue;
      const relay = r.frameHashes.length === 1 && r.frameHashes[0] === r.frameHash && open.aggregates.has(r.aggregateHash) && !inWinner.has(r.frameHash);
      if (relay && !chosenHashes.has(r.aggregateHash)) {
        choose(r.aggregateHash);
        inAggregate.add(r.account);
      }
    }
    for (const r of reports) {
      if (inAggregate.has(r.account)) decision.accepted.push({ id: r.id, creditWei: BigInt(r.samples) * weiPerSample });
      else if (winner && r.aggregateHash === winner[0]) decision.rejected.push({ id: r.id, rejection: { code: 'LEFT_OUT', prose: 'the cohort aggregate does not include this member\'s frame (refused by the aggregator)' } });
      else if (!open.aggregates.has(r.aggregateHash)) decision.rejected.push({ id: r.id, rejection: { code: 'AGGREGATE_MISSING', prose: 'the aggregate this member signed was never uploaded' } });
      else decision.rejected.push({ id: r.id, rejection: { code: 'NO_QUORUM', prose: `fewer than 2/3 of cohort ${cohort}'s reporting members signed this aggregate` } });
    }
    (open.quarantined.has(cohort) ? decision.withheld : decision.applied).push(...chosen);
  });
  return decision;
}
