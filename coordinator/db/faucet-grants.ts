// The faucet's grants (coordinator/rewards/faucet.ts): one row per (account, reward epoch),
// reserved before the gas is sent, freed if the send fails, and completed with its transaction.
import type { Hex } from 'viem';
import type { Sql } from './sql-surface.ts';

/** Reserves the grant; false when this account already has one for this epoch. `account` lowercase. */
export async function reserveFaucetGrant(sql: Sql, account: string, epoch: number, wei: bigint): Promise<boolean> {
  const { rows } = await sql.query(`insert into faucet_grants (account, epoch, wei) values ($1, $2, $3) on conflict do nothing returning account`, [
    account,
    epoch,
    wei.toString(),
  ]);
  return rows.length > 0;
}

/** Frees a reservation whose gas was never sent. */
export async function releaseFaucetGrant(sql: Sql, account: string, epoch: number): Promise<void> {
  await sql.query(`delete from faucet_grants where account = $1 and epoch = $2 and tx_hash is null`, [account, epoch]);
}

export async function recordFaucetTx(sql: Sql, account: string, epoch: number, txHash: Hex): Promise<void> {
  await sql.query(`update faucet_grants set tx_hash = $3 where account = $1 and epoch = $2`, [account, epoch, txHash]);
}

/** Whether the ledger already holds an epoch of this run at or after `round` (coordinator/rewards/epoch-poster.ts). */
export async function epochCoversRound(sql: Sql, runId: number, round: number): Promise<boolean> {
  const { rows } = await sql.query(`select 1 from epochs where run_id = $1 and round >= $2 limit 1`, [runId, round]);
  return rows.length > 0;
}
