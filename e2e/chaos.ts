// Chaos for the browser swarm (e2e/swarm.ts): the options, their validation, and the ledger
// reads that judge a chaotic run — which credited contributions survived a coordinator kill,
// and what the attacking identities were credited.
import type { Address } from 'viem';
import type { AccountSummary, ContributionState, RejectionCode } from '../shared/wire/index.ts';
import { isIdlegradError } from '../shared/errors.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { isPageAttack, PAGE_ATTACKS, type PageAttack } from './page/attack.ts';

export interface ChaosOptions {
  /** Pages that attack (the first K opened); each sends `attack`'s update and signs it normally. */
  byzantine: number;
  attack: PageAttack | null;
  /** Fraction of the honest pages closed and replaced by new ones at each commit, alternately between rounds and mid-round. */
  churn: number;
  /** At most this many churn events (a test's budget); null: one at every commit. */
  churnEvents: number | null;
  /** SIGKILL the platform's process group when this round commits, and restart it on the same data, port and chain. */
  killCoordinatorAt: number | null;
  /** Fraction of the honest pages that lose the network mid-round (Playwright setOffline) and come back. */
  offline: number;
}

export const NO_CHAOS: ChaosOptions = { byzantine: 0, attack: null, churn: 0, churnEvents: null, killCoordinatorAt: null, offline: 0 };

/** Validate chaos options against the swarm size; the error names the option. */
export function chaosOptionsOf(
  raw: { byzantine?: string; attack?: string; churn?: string; killCoordinatorAt?: string; offline?: string },
  volunteers: number,
): ChaosOptions {
  const byzantine = Number(raw.byzantine ?? 0);
  if (!Number.isInteger(byzantine) || byzantine < 0 || byzantine >= volunteers)
    throw new Error(`--byzantine: expected an integer in [0, ${volunteers - 1}] (fewer than --volunteers), got ${raw.byzantine}`);
  if (byzantine > 0 && !isPageAttack(raw.attack))
    throw new Error(`--attack: expected one of ${PAGE_ATTACKS.join(', ')} with --byzantine, got ${raw.attack ?? 'nothing'}`);
  if (byzantine === 0 && raw.attack !== undefined) throw new Error('--attack needs --byzantine K (K ≥ 1)');
  const fraction = (name: string, v: string | undefined) => {
    const x = Number(v ?? 0);
    if (!(x >= 0 && x <= 1)) throw new Error(`--${name}: expected a fraction in [0, 1], got ${v}`);
    return x;
  };
  let killCoordinatorAt: number | null = null;
  if (raw.killCoordinatorAt !== undefined) {
    killCoordinatorAt = Number(raw.killCoordinatorAt);
    if (!Number.isInteger(killCoordinatorAt) || killCoordinatorAt < 0)
      throw new Error(`--kill-coordinator-at: expected a round number ≥ 0, got ${raw.killCoordinatorAt}`);
  }
  return {
    byzantine,
    attack: byzantine > 0 ? (raw.attack as PageAttack) : null,
    churn: fraction('churn', raw.churn),
    churnEvents: null,
    killCoordinatorAt,
    offline: fraction('offline', raw.offline),
  };
}

/** How many of `n` pages a fraction touches: at least one when the fraction is positive. */
export const pagesFor = (fraction: number, n: number) => (fraction > 0 ? Math.max(1, Math.round(fraction * n)) : 0);

/** States in which a contribution holds credit. */
export const CREDITED: readonly ContributionState[] = ['accepted', 'verified', 'batched', 'claimable', 'claimed'];

export async function accountSummary(url: string, account: string): Promise<AccountSummary> {
  const api = new CoordinatorApi(url);
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.account(account as Address);
    } catch (e) {
      // A reused keep-alive socket the server just closed fails as "fetch failed" (unreachable): ask again.
      const unreachable = isIdlegradError(e, 'INTERNAL') && e.cause instanceof TypeError;
      if (attempt >= 3 || !unreachable)
        throw new Error(`GET api/accounts/${account}: ${(e as Error).message}${(e as Error).cause ? ` (${String((e as Error).cause)})` : ''}`, { cause: e });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * `account@round` for each credited contribution of these accounts (the ledger's 20 most
 * recent each), split into settled ones and those still waiting for a spot check (which may
 * yet be refused, crash or no crash).
 */
export async function creditedRows(url: string, accounts: string[]): Promise<{ settled: Set<string>; awaitingCheck: Set<string> }> {
  const settled = new Set<string>();
  const awaitingCheck = new Set<string>();
  const summaries = await Promise.all(accounts.map((a) => accountSummary(url, a)));
  for (const [i, a] of accounts.entries()) {
    const s = summaries[i];
    for (const r of s.recent) if (CREDITED.includes(r.state)) (r.verification === 'sampled' ? awaitingCheck : settled).add(`${a.toLowerCase()}@${r.round}`);
  }
  return { settled, awaitingCheck };
}

/** Rows of `before` that are not credited any more in `after`. */
export function lostRows(before: Set<string>, after: { settled: Set<string>; awaitingCheck: Set<string> }): string[] {
  return [...before].filter((r) => !after.settled.has(r) && !after.awaitingCheck.has(r));
}

export interface AttackerLedger {
  account: Address;
  creditWei: string;
  epochCreditWei: string;
  contributions: Record<ContributionState, number>;
  /** Codes of its refused contributions (shared/wire/rejections.ts). */
  codes: RejectionCode[];
  /** Its contributions (the ledger's 20 most recent): round, state and refusal code (null when not refused). */
  rows: { round: number; state: ContributionState; code: RejectionCode | null }[];
}

export async function attackerLedger(url: string, account: string): Promise<AttackerLedger> {
  const s = await accountSummary(url, account);
  return {
    account: s.address,
    creditWei: s.creditWei,
    epochCreditWei: s.epochCreditWei,
    contributions: s.contributions,
    codes: [...new Set(s.recent.flatMap((r) => (r.code ? [r.code] : [])))],
    rows: s.recent.map((r) => ({ round: r.round, state: r.state, code: r.code ?? null })),
  };
}

/** Refusals decided at commit (decide.ts): a frame refused there never reached the model. The others come after acceptance (spot checks). */
const AT_COMMIT: readonly RejectionCode[] = ['LEFT_OUT', 'NO_QUORUM', 'AGGREGATE_MISSING', 'COMBINE_REFUSED', 'STALE_ROUND', 'FOREIGN_AGGREGATE', 'DUPLICATE'];

/** One attacker contribution in a round that its cohort's leave-one-out vote should have guarded. */
export interface VoteRound {
  round: number;
  account: string;
  /** Reports the round's one cohort made (ledger rows), and how many the commit accepted. */
  reports: number;
  acceptedAtCommit: number;
  code: RejectionCode | null;
  /** Refused at commit (never applied), not accepted and caught only by a later spot check. */
  refusedAtCommit: boolean;
}

/**
 * The rounds where the vote decides the attacker's fate: committed (no aborted attempt shares the
 * number), one cohort reported, at least 3 reports, and the commit accepted at least 2 (the
 * honest members' aggregate won). There an attacker's frame is either in the winning aggregate
 * (accepted, applied) or refused by the vote (LEFT_OUT).
 */
export function voteRounds(
  attackers: readonly AttackerLedger[],
  outcomes: readonly { round: number; reports: number; cohorts: number; codes: readonly RejectionCode[] }[],
  committed: readonly { round: number; contributions: number }[],
): VoteRound[] {
  const outcomeOf = new Map(outcomes.map((o) => [o.round, o]));
  const acceptedOf = new Map(committed.map((r) => [r.round, r.contributions]));
  return attackers.flatMap((a) =>
    a.rows.flatMap((row) => {
      const o = outcomeOf.get(row.round);
      const accepted = acceptedOf.get(row.round);
      if (!o || accepted === undefined || o.codes.includes('ROUND_ABORTED') || o.cohorts !== 1 || o.reports < 3 || accepted < 2) return [];
      const refusedAtCommit = row.state === 'rejected' && row.code !== null && AT_COMMIT.includes(row.code);
      return [{ round: row.round, account: a.account, reports: o.reports, acceptedAtCommit: accepted, code: row.code, refusedAtCommit }];
    }),
  );
}
