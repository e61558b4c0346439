// Which contribution rows are payable: the credit rule's SQL (coordinator/verify/settings.ts),
// one definition for the ledger's epochs and the account summaries' vesting figures. Rows
// already in an epoch (batched, claimable, claimed) are summed in epoch_balances.
//
// Credit that may enter a reward epoch: verified work, and accepted work the validator
// decided not to check (skipped) or cannot check (unverifiable). A contribution just
// accepted (no decision yet) or sampled (check running) stays out, so an epoch job that
// runs concurrently with a commit can never batch unchecked credit.
// Payable: checked and passed, or not sampled, and vested. A row vests once its vests_round
// (round + W) has committed AND its identity has passed a check of this row or a later one
// (identities.last_passed_id ≥ id), or else once round + 2W has committed (2·vests_round −
// round: an honest volunteer who leaves is paid late, never lost). Rows already in an epoch
// were vested when batched. Both are conditions on an unaliased `contributions` row.
const COMMITTED_ROUND = `(select m.round from model_state m where m.run_id = contributions.run_id)`;
const LAST_PASSED = `coalesce((select i.last_passed_id from identities i where i.account = contributions.account), 0)`;
export const VESTED = `(contributions.vests_round is null or (contributions.vests_round < ${COMMITTED_ROUND} and (contributions.id <= ${LAST_PASSED} or 2 * contributions.vests_round - contributions.round < ${COMMITTED_ROUND})))`;
/** Payable and not yet in an epoch (rows already in one are summed in epoch_balances). */
export const UNBATCHED_PAYABLE = `(state in ('accepted','verified') and (state = 'verified' or verification in ('skipped','unverifiable')) and ${VESTED})`;
