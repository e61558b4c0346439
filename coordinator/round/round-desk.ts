// The round as the aggregation role holds it (issue 17 item 2: a committer whose work does not
// grow with N). The engine streams each recorded report and each admitted aggregate here as they
// arrive (the gateway's ingest: `npm run scale`'s report and upload phases), in the order it
// recorded them; at the commit the desk takes the round's decision (decide.ts decideRound, every
// cohort by the same deterministic code as before), runs the cross-cohort combine (shared/
// robust-combine.ts), blames a refused aggregate on the cohort that chose it, refuses a thinly
// backed update (thinBacking), and hands back what the committer needs: the global update with
// its groups, the verdicts as compact lists (accepted ids and samples in typed arrays, refusals
// with their reasons), and the round's sums (samples, train loss). The committer walks no report:
// what it still does once per report is the ledger's rows, the validator's ids and the members'
// acks, which are the ledger's, the validator's and the gateways' work by nature.
//
// The desk runs on the engine's first aggregation thread (combine-worker.ts), or in place on the
// event loop when that thread cannot run (RoundEngine rebuilds it from the round it holds): the
// same code either way, so the verdicts, their reasons and the model do not depend on where it ran
// (round-desk.test.ts holds them to the engine's previous in-loop path on a mixed round).
import type { Address, Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import type { DecodedFrame } from '../../shared/codec.ts';
import { aggregateUpdates, type CombineVersion } from '../../shared/aggregate.ts';
import { combineCohorts, type CombineGroup, type CombineRunner } from '../../shared/robust-combine.ts';
import type { Rejection } from '../../shared/wire/index.ts';
import { backersNeeded, decideRound, thinBacking, type ChosenAggregate, type RoundDecision, type RoundReport } from './decide.ts';

/** What the desk keeps of a recorded report: what decideRound reads, and its loss for the round's train loss. */
export interface DeskReport extends RoundReport {
  lossAfter: number;
}

/** The decided round as the committer takes it (DeskVerdict is what crosses the thread: no per-report objects for accepted reports). */
export interface DeskVerdict {
  round: number;
  /** Accepted reports' ids, in decision order, and their samples (credit = samples × the run's price, decide.ts creditWeiOf). */
  acceptedIds: Float64Array;
  acceptedSamples: Float64Array;
  rejected: { id: number; rejection: Rejection }[];
  /** The combined global update and its groups; null when nothing is applied (no aggregate chosen, or thinly backed). */
  combined: { bytes: Uint8Array; groups: CombineGroup[]; version: CombineVersion } | null;
  /** Sums over the accepted reports: samples, and the mean of their loss after training (null when none). */
  samples: number;
  trainLoss: number | null;
}

export class RoundDesk {
  private round = -1;
  private cohorts: { address: Address }[][] = [];
  private quarantined = new Set<number>();
  private reports: DeskReport[] = [];
  private readonly aggregates = new Map<Hex, DecodedFrame>();
  private decision: RoundDecision<DecodedFrame> | null = null;

  constructor(private readonly run: RunSpec) {}

  /** A new round: its cohorts' accounts (lower-case) and quarantined cohorts; what the desk held of the last one is dropped. */
  open(round: number, cohorts: readonly (readonly Address[])[], quarantined: Iterable<number>): void {
    this.round = round;
    this.cohorts = cohorts.map((c) => c.map((address) => ({ address })));
    this.quarantined = new Set(quarantined);
    this.reports = [];
    this.aggregates.clear();
    this.decision = null;
  }

  /** Recorded reports of `round`, in the order the engine recorded them (the decision's arrival order). */
  report(round: number, reports: readonly DeskReport[]): void {
    this.expect(round, 'a report');
    for (const r of reports) this.reports.push(r);
  }

  /** An admitted aggregate (named by a seated member's report) of `round`. */
  aggregate(round: number, hash: Hex, frame: DecodedFrame): void {
    this.expect(round, `aggregate ${hash}`);
    this.aggregates.set(hash, frame);
  }

  private expect(round: number, what: string): void {
    if (round !== this.round) throw new Error(`round desk: ${what} for round ${round}, but the desk holds round ${this.round}`);
  }

  /** The decision (decideRound); how many aggregates it applies. The combine follows (combine). */
  decide(round: number): { applied: number } {
    this.expect(round, 'the decision');
    this.decision = decideRound({ cohorts: this.cohorts, reports: this.reports, aggregates: this.aggregates, quarantined: this.quarantined }, this.run);
    return { applied: this.decision.applied.length };
  }

  /**
   * The combine of the decided round with `runner`, the blame for what it refuses, and the thin-backing
   * check: the round's verdicts. A refusal of an aggregate rejects only the accepted members of the
   * cohort that chose it (COMBINE_REFUSED); a relay aggregate that makes a cohort's quorum aggregate look
   * like a duplicate or a copy is refused itself (FOREIGN_AGGREGATE) and the combine runs again without it.
   */
  async combine(round: number, runner: CombineRunner): Promise<DeskVerdict> {
    this.expect(round, 'the combine');
    const decision = this.decision;
    if (!decision) throw new Error(`round desk: round ${round} was not decided before its combine`);
    let { accepted } = decision;
    const rejected = [...decision.rejected];
    let applied = decision.applied;
    let combined: DeskVerdict['combined'] = null;
    if (applied.length > 0) {
      const byChoice = new Map<string, DeskReport[]>();
      for (const r of this.reports) {
        const key = `${r.cohort}:${r.aggregateHash}`;
        byChoice.get(key)?.push(r) ?? byChoice.set(key, [r]);
      }
      const acceptedIds = new Set(accepted.map((a) => a.id));
      const reject = (chosen: ChosenAggregate<DecodedFrame>, rejection: Rejection) => {
        for (const r of byChoice.get(`${chosen.cohort}:${chosen.hash}`) ?? []) if (acceptedIds.delete(r.id)) rejected.push({ id: r.id, rejection });
      };
      let out = await combineCohorts(this.run, round, applied, runner);
      // decideRound chooses each hash once: the chosen aggregates by hash, for lookups instead of scans.
      let byHash = new Map(applied.map((a) => [a.hash, a]));
      const victims = out.excluded.filter((x) => (x.reason === 'copycat' || x.reason === 'duplicate') && byHash.get(x.hash)?.relay === false);
      if (victims.length) {
        const copiers = applied.filter(
          (a) =>
            a.relay &&
            victims.some((v) => {
              const victim = byHash.get(v.hash)!;
              return aggregateUpdates([victim, a], this.run.paramCount, this.run.aggregator).excluded.some((x) => x.hash === victim.hash);
            }),
        );
        for (const c of copiers)
          reject(c, {
            code: 'FOREIGN_AGGREGATE',
            prose: `this relay aggregate is a copy of another cohort's aggregate (the combine refused that one as a ${victims[0].reason})`,
          });
        if (copiers.length) {
          const copied = new Set(copiers);
          applied = applied.filter((a) => !copied.has(a));
          byHash = new Map(applied.map((a) => [a.hash, a]));
          out = await combineCohorts(this.run, round, applied, runner);
        }
      }
      for (const { hash, reason } of out.excluded) {
        const chosen = byHash.get(hash);
        if (chosen) reject(chosen, { code: 'COMBINE_REFUSED', prose: `the cross-cohort combine refused this member's cohort aggregate (${reason})` });
      }
      if (acceptedIds.size < accepted.length) accepted = accepted.filter((a) => acceptedIds.has(a.id));
      // Too few distinct identities behind what the combine kept: refused, nothing applied (decide.ts thinBacking).
      const thin = thinBacking(decision.applied, accepted, this.reports, backersNeeded(this.run, this.cohorts, this.quarantined));
      if (thin) {
        const refused = new Set(thin.map((r) => r.id));
        accepted = accepted.filter((a) => !refused.has(a.id));
        rejected.push(...thin);
      } else combined = { bytes: out.bytes, groups: out.groups, version: out.version };
    }
    const ids = Float64Array.from(accepted, (a) => a.id);
    const acceptedSamples = new Float64Array(accepted.length);
    const at = new Map(accepted.map((a, i) => [a.id, i]));
    // In report order, as the engine summed them before (the train loss's bits depend on the order).
    let samples = 0;
    let loss = 0;
    for (const r of this.reports) {
      const i = at.get(r.id);
      if (i === undefined) continue;
      acceptedSamples[i] = r.samples;
      samples += r.samples;
      loss += r.lossAfter;
    }
    this.decision = null;
    return { round, acceptedIds: ids, acceptedSamples, rejected, combined, samples, trainLoss: accepted.length ? loss / accepted.length : null };
  }
}
