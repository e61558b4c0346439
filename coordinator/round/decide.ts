// The commit decision (DESIGN.md step 6), pure (and when to take it, commitAt): from the open round's cohorts, the reports
// its members signed and the aggregates uploaded, which reports are accepted (with their
// credit), which are rejected and why (a RejectionCode), which aggregates go into the combine
// and which are withheld from it (quarantined cohorts). No ledger, no clock, no network:
// the round desk (round-desk.ts, on the aggregation thread) evaluates what this returns for RoundEngine.commit to record.
//
// Per cohort, among the members that reported:
//   - the winner is the uploaded aggregate voted by at least ⌈2/3⌉ of them and by at least
//     two (the most votes; ties by hash), whose frames include at least a quorum of its
//     voters' own frames: its voters whose frame it includes are accepted, and a voter it
//     leaves out (the aggregator refused its frame) is LEFT_OUT;
//   - relay mode: a member whose aggregate is its own frame alone, uploaded, not already in
//     the winner, not any cohort's winner, and first named (in arrival order) by this
//     member's report, is accepted on its own. A relay aggregate encodes one member's frame,
//     so a relay claim on a hash a cohort won or another report named first is someone
//     else's: FOREIGN_AGGREGATE (the claimant's, never the owner's). Uploads are not signed,
//     so a thief that reports a copied relay aggregate BEFORE its author wins the tie; the
//     spot check of its frame is what catches it then (follow-up: signed uploads).
//   - everyone else is NO_QUORUM, or AGGREGATE_MISSING when what it signed was never uploaded.
//     A member the uploader left out whose frame the in-cohort vote keeps signs the winner's
//     frames plus its own instead of the winner (web/src/client/round/settle.ts): AGGREGATE_MISSING,
//     which is not conduct, with prose that names the omission. Its report still counts among the
//     cohort's reporting members, so an uploader that leaves out enough members loses the quorum
//     (and its own credit). The coordinator cannot check the member's vote (it holds no member
//     frames) nor tell who uploaded (uploads are unsigned), so it blames nobody for it.
// Chosen aggregates are de-duplicated across the round: a hash that wins in several cohorts
// belongs to the one where most of its voters' frames are inside it (ties: the lower cohort),
// and the other cohorts' voters are FOREIGN_AGGREGATE. Each chosen aggregate carries its
// cohort, so a later refusal by the combine blames only that cohort (round-desk.ts).
// A report from an account that is not seated in its cohort is never counted (the engine
// refuses it as NOT_A_MEMBER before it gets here; decideRound ignores it for its votes too).
// A quarantined cohort's chosen aggregates are withheld: its members are accepted (so their
// work is spot-checked and paid if honest) but their update is never applied.
// After the combine, thinBacking: a round's update must rest on accepted contributions of at
// least backersNeeded distinct identities (the run's minContributors, default 2, capped at the
// identities the round seated outside quarantine, so a lone volunteer still trains). A lone
// reporter in a round that seated others (say an attacker whose honest cohort-mates missed the
// round, so no leave-one-out vote saw its frame) is refused NO_QUORUM and nothing is applied:
// each member gives the update back to its residual, as for any refused round.
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
  /** The cohort that chose it: the only one a refusal of it may blame. */
  cohort: number;
  /** A single member's own frame (relay mode), not a cohort's quorum aggregate. */
  relay: boolean;
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

/**
 * When an open round commits: at its report deadline, or once every seated member has
 * reported and every aggregate they voted for is uploaded — but never before its training
 * window ends at startsAt + trainMs, however early the reports came (issue 14). A member that
 * skips its training gains no faster rounds: at most one contribution per trainMs, whatever
 * it claims to have done (the spot check prices the claim; this bounds the pace).
 */
export function commitAt(open: { startsAt: number; reportEndsAt: number }, run: Pick<RunSpec, 'timing'>, everyoneIn: boolean): number {
  return everyoneIn ? Math.min(open.reportEndsAt, open.startsAt + run.timing.trainMs) : open.reportEndsAt;
}

/** An accepted report's credit: its samples at the run's price per sample. */
export function creditWeiOf(samples: number, run: Pick<RunSpec, 'rewards'>): bigint {
  return BigInt(samples) * BigInt(run.rewards.weiPerSample);
}

/**
 * How many distinct identities a round's update must rest on: the run's minContributors
 * (default 2), never more than the identities the round seated outside quarantine.
 */
export function backersNeeded(run: Pick<RunSpec, 'minContributors'>, cohorts: readonly unknown[][], quarantined: ReadonlySet<number>): number {
  const seated = cohorts.reduce((s, c, i) => (quarantined.has(i) ? s : s + c.length), 0);
  return Math.max(1, Math.min(run.minContributors ?? DEFAULT_MIN_CONTRIBUTORS, seated));
}

export const DEFAULT_MIN_CONTRIBUTORS = 2;

/**
 * The refusals that keep a thinly backed update out of the model: when the accepted reports
 * behind the applied aggregates (matched by cohort and aggregate hash) come from fewer than
 * `needed` distinct accounts, the refusals of each of them (NO_QUORUM; an empty list when none
 * is left) and the update must not be applied; otherwise null.
 */
export function thinBacking(
  applied: readonly { cohort: number; hash: Hex }[],
  accepted: readonly { id: number }[],
  reports: Iterable<Pick<RoundReport, 'id' | 'account' | 'cohort' | 'aggregateHash'>>,
  needed: number,
): { id: number; rejection: Rejection }[] | null {
  const chosen = new Set(applied.map((a) => `${a.cohort}:${a.hash.toLowerCase()}`));
  const ids = new Set(accepted.map((a) => a.id));
  const backing = [...reports].filter((r) => ids.has(r.id) && chosen.has(`${r.cohort}:${r.aggregateHash.toLowerCase()}`));
  const backers = new Set(backing.map((r) => r.account.toLowerCase())).size;
  if (backers >= needed) return null;
  const prose = `the round's update would rest on ${backers} identit${backers === 1 ? 'y' : 'ies'}, fewer than the ${needed} it needs (run.minContributors): nothing is applied`;
  return backing.map((r) => ({ id: r.id, rejection: { code: 'NO_QUORUM', prose } }));
}

const foreign = (prose: string): Rejection => ({ code: 'FOREIGN_AGGREGATE', prose });

/**
 * A report that signed the winner's frames plus its own, which the winner lacks: the member's
 * rerun of the in-cohort vote kept the frame the uploader's announcement left out
 * (web/src/client/round/settle.ts), so it refused to sign a set that would make it LEFT_OUT.
 */
const omittedFrom = (inWinner: ReadonlySet<Hex>, r: RoundReport): boolean =>
  !inWinner.has(r.frameHash) && r.frameHashes.length === inWinner.size + 1 && r.frameHashes.every((h) => h === r.frameHash || inWinner.has(h));
const OMITTED_PROSE =
  "the member signed the cohort aggregate's frames plus its own, which the uploader left out and its rerun of the in-cohort vote keeps; that aggregate was never uploaded (not this member's conduct)";

export function decideRound<F>(open: OpenRoundView<F>, run: Pick<RunSpec, 'rewards'>): RoundDecision<F> {
  const decision: RoundDecision<F> = { accepted: [], rejected: [], applied: [], withheld: [] };
  const seated = open.cohorts.map((members) => new Set(members.map((m) => m.address.toLowerCase())));
  const byCohort = new Map<number, RoundReport[]>();
  /** The first report (in arrival order) naming each hash. */
  const firstNamer = new Map<Hex, number>();
  for (const r of open.reports) {
    if (!seated[r.cohort]?.has(r.account.toLowerCase())) {
      decision.rejected.push({
        id: r.id,
        rejection: { code: 'NO_QUORUM', prose: `${r.account} is not seated in cohort ${r.cohort}: its vote is not counted` },
      });
      continue;
    }
    byCohort.get(r.cohort)?.push(r) ?? byCohort.set(r.cohort, [r]);
    if (!firstNamer.has(r.aggregateHash)) firstNamer.set(r.aggregateHash, r.id);
  }

  // 1. Each cohort's candidate winner, with how many of its voters' frames it holds.
  const candidates = open.cohorts.map((_members, cohort) => {
    const reports = byCohort.get(cohort) ?? [];
    const byAgg = new Map<Hex, RoundReport[]>();
    for (const r of reports) byAgg.set(r.aggregateHash, [...(byAgg.get(r.aggregateHash) ?? []), r]);
    const quorum = quorumOf(reports.length);
    const holding = (h: Hex, voters: RoundReport[]) => {
      const frames = new Set(voters[0].frameHashes);
      return voters.filter((r) => frames.has(r.frameHash) && r.frameHashes.length === voters[0].frameHashes.length).length;
    };
    const winner = [...byAgg.entries()]
      .filter(([h, voters]) => open.aggregates.has(h) && voters.length >= quorum && holding(h, voters) >= quorum)
      .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))[0];
    return { reports, winner, held: winner ? holding(...winner) : 0 };
  });
  // 2. De-duplicate winners across cohorts: a hash belongs to one cohort only.
  const owner = new Map<Hex, number>();
  candidates.forEach(({ winner, held }, cohort) => {
    if (!winner) return;
    const prev = owner.get(winner[0]);
    if (prev === undefined || held > candidates[prev].held) owner.set(winner[0], cohort);
  });

  // 3. Per cohort: the winner's voters, relays, and everyone else.
  const chosenHashes = new Set<Hex>(owner.keys());
  candidates.forEach(({ reports, winner: candidate }, cohort) => {
    const winner = candidate && owner.get(candidate[0]) === cohort ? candidate : undefined;
    const chosen: ChosenAggregate<F>[] = [];
    const choose = (hash: Hex, relay: boolean) => chosen.push({ hash, frame: open.aggregates.get(hash)!, cohort, relay });
    const inWinner = new Set(winner?.[1][0].frameHashes ?? []);
    const inAggregate = new Set<Address>();
    if (winner) {
      choose(winner[0], false);
      for (const r of reports) if (inWinner.has(r.frameHash) && r.aggregateHash === winner[0]) inAggregate.add(r.account);
    }
    const refused = new Map<number, Rejection>();
    for (const r of reports) {
      if (inAggregate.has(r.account)) continue;
      if (candidate && !winner && r.aggregateHash === candidate[0]) {
        refused.set(r.id, foreign(`aggregate ${r.aggregateHash} is cohort ${owner.get(r.aggregateHash)}'s, which holds more of its voters' frames`));
        continue;
      }
      const relay = r.frameHashes.length === 1 && r.frameHashes[0] === r.frameHash && open.aggregates.has(r.aggregateHash) && !inWinner.has(r.frameHash);
      if (!relay) continue;
      if (firstNamer.get(r.aggregateHash) !== r.id || chosenHashes.has(r.aggregateHash)) {
        refused.set(
          r.id,
          foreign(`relay aggregate ${r.aggregateHash} was named first by another report, or is a cohort's aggregate; a relay uploads only its own frame`),
        );
        continue;
      }
      choose(r.aggregateHash, true);
      chosenHashes.add(r.aggregateHash);
      inAggregate.add(r.account);
    }
    for (const r of reports) {
      const refusal = refused.get(r.id);
      if (inAggregate.has(r.account)) decision.accepted.push({ id: r.id, creditWei: creditWeiOf(r.samples, run) });
      else if (refusal) decision.rejected.push({ id: r.id, rejection: refusal });
      else if (winner && r.aggregateHash === winner[0])
        decision.rejected.push({
          id: r.id,
          rejection: { code: 'LEFT_OUT', prose: "the cohort aggregate does not include this member's frame (refused by the aggregator)" },
        });
      else if (!open.aggregates.has(r.aggregateHash))
        decision.rejected.push({
          id: r.id,
          rejection: {
            code: 'AGGREGATE_MISSING',
            prose: winner && omittedFrom(inWinner, r) ? OMITTED_PROSE : 'the aggregate this member signed was never uploaded',
          },
        });
      else if (owner.has(r.aggregateHash) && owner.get(r.aggregateHash) !== cohort)
        decision.rejected.push({
          id: r.id,
          rejection: foreign(`aggregate ${r.aggregateHash} is cohort ${owner.get(r.aggregateHash)}'s, not cohort ${cohort}'s`),
        });
      else
        decision.rejected.push({
          id: r.id,
          rejection: { code: 'NO_QUORUM', prose: `fewer than 2/3 of cohort ${cohort}'s reporting members signed this aggregate` },
        });
    }
    (open.quarantined.has(cohort) ? decision.withheld : decision.applied).push(...chosen);
  });
  return decision;
}
