// The dev gas faucet: the owner sends a little of the native coin so a volunteer can pay for
// its claim. Each grant costs the owner, and an owner without gas posts no epochs, so it pays
// only accounts with something to claim in the latest posted epoch, once per account and
// epoch (recorded in the ledger's faucet_grants before the transaction is sent), and it is off
// unless configured: on by default on the embedded chain, off by default with RPC_URL
// (coordinator/config.ts `faucet`).
import type { Address, Hex } from 'viem';
import { IdlegradError } from '../../shared/errors.ts';
import type { AccountSummary } from '../../shared/wire/index.ts';
import { recordFaucetTx, releaseFaucetGrant, reserveFaucetGrant, type Sql } from '../db/index.ts';

/** 0.01 of the native coin: a claim costs well under 200 000 gas. */
export const FAUCET_GRANT_WEI = 10n ** 16n;

export interface FaucetDeps {
  sql: Sql;
  enabled: boolean;
  /** The account's claim in the latest posted epoch, if it has one not yet claimed (Rewards.claimable). */
  claimable(account: Address): Promise<AccountSummary['claimable']>;
  send(account: Address, wei: bigint): Promise<Hex>;
  grantWei?: bigint;
}

export class Faucet {
  constructor(private readonly deps: FaucetDeps) {}

  async grant(account: Address): Promise<Hex> {
    if (!this.deps.enabled) throw new IdlegradError('FORBIDDEN', "the faucet is off on this coordinator (pay the claim's gas from your wallet)");
    const claim = await this.deps.claimable(account);
    if (!claim) throw new IdlegradError('NOT_FOUND', `${account} has nothing claimable, so the faucet sends no gas`);
    const wei = this.deps.grantWei ?? FAUCET_GRANT_WEI;
    const who = account.toLowerCase();
    // Reserve the (account, epoch) grant first: two requests at once cannot both send.
    if (!(await reserveFaucetGrant(this.deps.sql, who, claim.epoch, wei)))
      throw new IdlegradError('DUPLICATE', `the faucet already sent ${account} gas for reward epoch ${claim.epoch}; it grants once per account and epoch`);
    let txHash: Hex;
    try {
      txHash = await this.deps.send(account, wei);
    } catch (e) {
      // Nothing was sent: free the reservation so the volunteer can ask again.
      await releaseFaucetGrant(this.deps.sql, who, claim.epoch);
      throw new IdlegradError('CHAIN_ERROR', `the faucet could not send gas: ${(e as Error).message.split('\n')[0]}`, { cause: e });
    }
    await recordFaucetTx(this.deps.sql, who, claim.epoch, txHash);
    return txHash;
  }
}
