// The ledger: runs, committed rounds, model snapshots, contributions and their states,
// reward epochs and claims. Every multi-row change is one transaction, so a crash
// never leaves a half-written round or epoch.
import type { Address, Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import type { AccountSummary, ContributionState, EpochSummary, RoundSummary } from '../../shared/protocol.ts';
import type { Contribution } from '../../shared/eip712.ts';
import { IdlegradError } from '../../shared/errors.ts';
import type { Sql } from './sql.ts';

export interface ModelState {
  round: number;
  modelHash: Hex;
  params: Float32Array;
  momentum: Float32Array;
}

export interface PendingContribution {
  id: number;
  account: Address;
  c: Contribution;
}

export interface RoundCommit {
  runId: number;
  summary: RoundSummary;
  state: ModelState;
  update: Uint8Array | null;
  accepted: { id: number; creditWei: bigint }[];
  rejected: { id: number; reason: string }[];
}

const f32 = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const STATES: ContributionState[] = ['pending', 'accepted', 'verified', 'rejected', 'batched', 'claimable', 'claimed'];

export class Ledger {
  constructor(readonly sql: Sql) {}

  async loadRun(id: number): Promise<{ spec: RunSpec; state: ModelState } | null> {
    const { rows } = await this.sql.query<{ spec: RunSpec; round: number; model_hash: string; params: Uint8Array; momentum: Uint8Array }>(
      `select r.spec, m.round, m.model_hash, m.params, m.momentum from runs r join model_state m on m.run_id = r.id where r.id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    return { spec: r.spec, state: { round: r.round, modelHash: r.model_hash as Hex, params: f32(r.params), momentum: f32(r.momentum) } };
  }

  async createRun(spec: RunSpec, state: ModelState): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(`insert into runs (id, name, spec) values ($1, $2, $3)`, [spec.id, spec.name, JSON.stringify(spec)]);
      await tx.query(`insert into model_state (run_id, round, model_hash, params, momentum) values ($1, $2, $3, $4, $5)`, [
        spec.id, state.round, state.modelHash, bytesOf(state.params), bytesOf(state.momentum),
      ]);
    });
  }

  /** Contributions left pending by a coordinator that stopped mid-round can never be committed. */
  async abortPending(runId: number, beforeRound: number): Promise<number> {
    const { rows } = await this.sql.query<{ id: number }>(
      `update contributions set state = 'rejected', reason = 'ROUND_ABORTED: the coordinator restarted before the round committed'
       where run_id = $1 and state = 'pending' and round <= $2 returning id`,
      [runId, beforeRound],
    );
    return rows.length;
  }

  async nonceUsed(account: Address, nonce: bigint): Promise<boolean> {
    const { rows } = await this.sql.query(`select 1 from contributions where account = $1 and nonce = $2`, [account, nonce.toString()]);
    return rows.length > 0;
  }

  /** Records a verified, signed report as pending. The unique (account, nonce) key refuses replays even under races. */
  async insertPending(runId: number, account: Address, c: Contribution, signature: Hex): Promise<number> {
    try {
      const { rows } = await this.sql.query<{ id: number }>(
        `insert into contributions (run_id, round, cohort, account, frame_hash, aggregate_hash, samples, steps, loss_before, loss_after, compute_ms, nonce, expiry, signature, state)
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,'pending') returning id`,
        [runId, c.round, c.cohort, account, c.frameHash, c.aggregateHash, c.samples, c.steps, c.lossBeforeMicro / 1e6, c.lossAfterMicro / 1e6, c.computeMs, c.nonce.toString(), Number(c.expiry), signature],
      );
      return Number(rows[0].id);
    } catch (e) {
      if (String((e as Error).message).includes('unique')) throw new IdlegradError('REPLAYED_NONCE', `nonce ${c.nonce} was already used by ${account}`);
      throw e;
    }
  }

  async reject(id: number, reason: string): Promise<void> {
    await this.sql.query(`update contributions set state = 'rejected', reason = $2 where id = $1 and state = 'pending'`, [id, reason]);
  }

  async commitRound(commit: RoundCommit): Promise<void> {
    const { runId, summary: s, state } = commit;
    await this.sql.transaction(async (tx) => {
      await tx.query(
        `insert into rounds (run_id, round, model_hash, committed_at, held_out_accuracy, held_out_loss, train_loss, contributions, samples, volunteers, update_bytes)
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
        [runId, s.round, s.modelHash, s.committedAt, s.heldOutAccuracy, s.heldOutLoss, s.trainLoss, s.contributions, s.samples, s.volunteers, s.updateBytes],
      );
      if (commit.update) await tx.query(`insert into updates (run_id, round, frame) values ($1, $2, $3)`, [runId, s.round, commit.update]);
      await tx.query(`update model_state set round = $2, model_hash = $3, params = $4, momentum = $5 where run_id = $1`, [
        runId, state.round, state.modelHash, bytesOf(state.params), bytesOf(state.momentum),
      ]);
      for (const a of commit.accepted) {
        await tx.query(`update contributions set state = 'accepted', credit_wei = $2 where id = $1 and state = 'pending'`, [a.id, a.creditWei.toString()]);
      }
      for (const r of commit.rejected) {
        await tx.query(`update contributions set state = 'rejected', reason = $2 where id = $1 and state = 'pending'`, [r.id, r.reason]);
      }
    });
  }

  async update(runId: number, round: number): Promise<Uint8Array | null> {
    const { rows } = await this.sql.query<{ frame: Uint8Array }>(`select frame from updates where run_id = $1 and round = $2`, [runId, round]);
    return rows[0]?.frame ?? null;
  }

  async rounds(runId: number, limit = 1000): Promise<RoundSummary[]> {
    const { rows } = await this.sql.query<Record<string, unknown>>(
      `select * from (select * from rounds where run_id = $1 order by round desc limit $2) t order by round`,
      [runId, limit],
    );
    return rows.map((r) => ({
      round: Number(r.round),
      modelHash: r.model_hash as Hex,
      committedAt: Number(r.committed_at),
      heldOutAccuracy: Number(r.held_out_accuracy),
      heldOutLoss: Number(r.held_out_loss),
      trainLoss: r.train_loss === null ? null : Number(r.train_loss),
      contributions: Number(r.contributions),
      samples: Number(r.samples),
      volunteers: Number(r.volunteers),
      updateBytes: Number(r.update_bytes),
    }));
  }

  /** Cumulative credit per account over everything accepted so far (the next epoch's leaves). */
  async cumulativeCredit(): Promise<{ account: Address; cumulative: bigint }[]> {
    const { rows } = await this.sql.query<{ account: string; total: string }>(
      `select account, sum(credit_wei)::text as total from contributions
       where state in ('accepted','verified','batched','claimable','claimed') group by account order by account`,
    );
    return rows.map((r) => ({ account: r.account as Address, cumulative: BigInt(r.total) })).filter((r) => r.cumulative > 0n);
  }

  async lastEpoch(): Promise<number> {
    const { rows } = await this.sql.query<{ e: number | null }>(`select max(epoch) as e from epochs`);
    return rows[0]?.e ?? 0;
  }

  /** Records a new epoch and moves every accepted contribution into it, atomically. */
  async openEpoch(e: { epoch: number; runId: number; round: number; root: Hex; modelHash: Hex; totalWei: bigint; accounts: number; tree: unknown }): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(`insert into epochs (epoch, run_id, round, root, model_hash, total_wei, accounts, tree) values ($1,$2,$3,$4,$5,$6,$7,$8)`, [
        e.epoch, e.runId, e.round, e.root, e.modelHash, e.totalWei.toString(), e.accounts, JSON.stringify(e.tree),
      ]);
      await tx.query(`update contributions set state = 'batched', epoch = $1 where state in ('accepted','verified')`, [e.epoch]);
    });
  }

  async epochPosted(epoch: number, txHash: Hex): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(`update epochs set tx_hash = $2, posted_at = now() where epoch = $1`, [epoch, txHash]);
      // Every batched contribution up to this epoch is covered by the posted cumulative root.
      await tx.query(`update contributions set state = 'claimable' where state = 'batched' and epoch <= $1`, [epoch]);
    });
  }

  async epochs(): Promise<EpochSummary[]> {
    const { rows } = await this.sql.query<Record<string, unknown>>(`select * from epochs where tx_hash is not null order by epoch`);
    return rows.map((r) => ({
      epoch: Number(r.epoch), root: r.root as Hex, txHash: r.tx_hash as Hex, totalWei: String(r.total_wei), accounts: Number(r.accounts), round: Number(r.round),
    }));
  }

  /** The latest posted epoch's tree dump (for proofs). */
  async latestPostedTree(): Promise<{ epoch: number; tree: unknown } | null> {
    const { rows } = await this.sql.query<{ epoch: number; tree: unknown }>(`select epoch, tree from epochs where tx_hash is not null order by epoch desc limit 1`);
    return rows[0] ?? null;
  }

  async recordClaim(txHash: Hex, account: Address, cumulativeWei: bigint, epoch: number): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      const { rows } = await tx.query(`insert into claims (tx_hash, account, cumulative_wei, epoch) values ($1,$2,$3,$4) on conflict do nothing returning tx_hash`, [
        txHash, account, cumulativeWei.toString(), epoch,
      ]);
      if (rows.length === 0) return false;
      await tx.query(`update contributions set state = 'claimed' where account = $1 and state = 'claimable' and epoch <= $2`, [account, epoch]);
      return true;
    });
  }

  async claimedWei(account: Address): Promise<bigint> {
    const { rows } = await this.sql.query<{ m: string | null }>(`select max(cumulative_wei)::text as m from claims where account = $1`, [account]);
    return BigInt(rows[0]?.m ?? 0);
  }

  async accountSummary(account: Address): Promise<Omit<AccountSummary, 'claimable'>> {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<ContributionState, number>;
    const { rows } = await this.sql.query<{ state: ContributionState; n: number; credit: string }>(
      `select state, count(*)::int as n, coalesce(sum(credit_wei), 0)::text as credit from contributions where account = $1 group by state`,
      [account],
    );
    let credit = 0n;
    for (const r of rows) {
      counts[r.state] = r.n;
      credit += BigInt(r.credit);
    }
    const recent = await this.sql.query<{ round: number; state: ContributionState; reason: string | null; samples: number; epoch: number | null }>(
      `select round, state, reason, samples, epoch from contributions where account = $1 order by id desc limit 20`,
      [account],
    );
    const inEpochs = await this.sql.query<{ t: string }>(
      `select coalesce(sum(c.credit_wei), 0)::text as t from contributions c join epochs e on e.epoch = c.epoch where c.account = $1 and e.tx_hash is not null`,
      [account],
    );
    return {
      address: account, contributions: counts, creditWei: credit.toString(), claimedWei: (await this.claimedWei(account)).toString(),
      epochCreditWei: inEpochs.rows[0].t, recent: recent.rows,
    };
  }

  async contributionStates(runId: number): Promise<Record<string, number>> {
    const { rows } = await this.sql.query<{ state: string; n: number }>(`select state, count(*)::int as n from contributions where run_id = $1 group by state`, [runId]);
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
