// When a committed round becomes a reward epoch (DESIGN.md step 9), run after every commit:
// wait for the spot checks queued so far to decide (they run on the re-execution thread,
// behind the rounds), so their verdicts land in the epoch — but no longer than the epoch's
// rounds take: a sampled contribution whose check is still queued is left out
// (Ledger.cumulativeCredit) and paid by a later epoch. Then post the epoch if this round
// closes one (Rewards.afterCommit), and push every credited account its new claimable amount.
import type { Address, Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';

export interface EpochPolicyDeps {
  /** Resolves when the checks queued so far have decided, or after `timeoutMs` (Validator.idle). */
  checksSettled(timeoutMs: number): Promise<void>;
  /** Posts the epoch `round` closes, if any (Rewards.afterCommit). */
  postEpoch(round: number, modelHash: Hex): Promise<unknown>;
  /** The accounts with credit (Ledger.cumulativeCredit). */
  creditedAccounts(): Promise<Address[]>;
  /** Sends each account's summary to its sessions (ApiServer.pushAccounts). */
  pushAccounts(accounts: Address[]): Promise<void> | void;
}

/** How long an epoch waits for the spot checks: as long as its rounds take. */
export function epochWaitMs(run: Pick<RunSpec, 'rewards' | 'timing'>): number {
  const { trainMs, exchangeMs, reportMs } = run.timing;
  // Capped at setTimeout's limit (2³¹ − 1 ms, about 24.8 days): past it Node fires the timer after 1 ms.
  return Math.min(2 ** 31 - 1, run.rewards.epochRounds * (trainMs + exchangeMs + reportMs));
}

/** The policy for one run: call the returned function with each committed round. */
export function epochPolicy(run: Pick<RunSpec, 'rewards' | 'timing'>, deps: EpochPolicyDeps): (committed: { round: number; modelHash: Hex }) => Promise<void> {
  const waitMs = epochWaitMs(run);
  return async ({ round, modelHash }) => {
    await deps.checksSettled(waitMs);
    await deps.postEpoch(round, modelHash);
    // After an epoch the accounts' claimable amounts change: push them.
    await deps.pushAccounts(await deps.creditedAccounts());
  };
}
