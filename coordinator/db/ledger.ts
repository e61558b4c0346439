// The ledger: runs, committed rounds, model snapshots, contributions and their states,
// reward epochs and claims. Every multi-row change is one transaction, so a crash
// never leaves a half-written round or epoch.
import type { Address, Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import type {
  AccountSummary,
  CheckFigures,
  ContributionRecord,
  ContributionState,
  DeviceKind,
  EpochSummary,
  PartnerSummary,
  Rejection,
  RejectionCode,
  RoundSummary,
  VerificationState,
} from '../../shared/wire/index.ts';
import type { Contribution, Delegation } from '../../shared/eip712.ts';
import { IdlegradError } from '../../shared/errors.ts';
import type { SessionGrant } from '../../shared/session-key.ts';
import type { CombineGroup } from '../../shared/robust-combine.ts';
import type { CombineVersion } from '../../shared/aggregate.ts';
import type { Sql } from './sql.ts';
import { UNBATCHED_PAYABLE } from './creditable.ts';
import { vestingOf } from './account-summaries.ts';
import { MODEL_CHUNK_BYTES, readModelPart, writeModelPart } from './model-chunks.ts';

export interface ModelState {
  round: number;
  modelHash: Hex;
  params: Float32Array;
  momentum: Float32Array;
  /** The coordinator's error-feedback residual of the compressed global update (absent: zeros). */
  residual?: Float32Array;
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
  rejected: { id: number; rejection: Rejection }[];
  /** The round after whose commit the accepted rows' credit vests (absent: at once). */
  vestsRound?: number;
  /** The cross-cohort combine's groups (shared/robust-combine.ts), kept for auditors; absent or empty: nothing was combined. */
  groups?: CombineGroup[];
  /** The combine version the groups were combined with (shared/aggregate.ts CombineVersion); absent: 1. */
  combineVersion?: CombineVersion;
}

const f32 = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
/** A contribution the validator can redo: what the member signed and committed. */
export interface VerifiableContribution {
  id: number;
  round: number;
  cohort: number;
  account: Address;
  frameHash: Hex;
  residualHash: Hex | null;
  samples: number;
  steps: number;
  state: ContributionState;
  verification: VerificationState | null;
  /** What the member says it trained on (the report's `device`); null when it did not say. */
  device: DeviceKind | null;
}

export interface IdentityRecord {
  account: Address;
  checksPassed: number;
  checksFailed: number;
  reputation: number;
}

/** Moves rows into epoch $1 and adds their credit to epoch_balances, in one statement. */
const BATCH = (where: string) => `with moved as (update contributions set state = 'batched', epoch = $1 where ${where} returning beneficiary, credit_wei)
  insert into epoch_balances (beneficiary, batched_wei) select beneficiary, sum(credit_wei) from moved group by beneficiary
  on conflict (beneficiary) do update set batched_wei = epoch_balances.batched_wei + excluded.batched_wei`;

const STATES: ContributionState[] = ['pending', 'accepted', 'verified', 'rejected', 'batched', 'claimable', 'claimed'];

export class Ledger {
  /** `chunkBytes`: the model state's row size (a test's smaller one; default MODEL_CHUNK_BYTES). */
  constructor(
    readonly sql: Sql,
    private readonly chunkBytes = MODEL_CHUNK_BYTES,
  ) {}

  async loadRun(id: number): Promise<{ spec: RunSpec; state: ModelState } | null> {
    const { rows } = await this.sql.query<{ spec: RunSpec; round: number; model_hash: string; inline: boolean }>(
      `select r.spec, m.round, m.model_hash, m.params is not null as inline from runs r join model_state m on m.run_id = r.id where r.id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    if (r.inline) return { spec: r.spec, state: await this.loadInlineState(id, r.round, r.model_hash as Hex) };
    const n = r.spec.paramCount;
    const params = await readModelPart(this.sql, id, 'params', n);
    const momentum = await readModelPart(this.sql, id, 'momentum', n);
    if (!params || !momentum) throw new Error(`run ${id}: the ledger holds no ${params ? 'momentum' : 'parameters'} for round ${r.round}`);
    const state: ModelState = { round: r.round, modelHash: r.model_hash as Hex, params, momentum };
    const residual = await readModelPart(this.sql, id, 'residual', n);
    if (residual) state.residual = residual;
    return { spec: r.spec, state };
  }

  /** A ledger written before model_chunks: the state in model_state's bytea columns. */
  private async loadInlineState(id: number, round: number, modelHash: Hex): Promise<ModelState> {
    const { rows } = await this.sql.query<{ params: Uint8Array; momentum: Uint8Array; residual: Uint8Array | null }>(
      `select params, momentum, residual from model_state where run_id = $1`,
      [id],
    );
    const r = rows[0];
    const state: ModelState = { round, modelHash, params: f32(r.params), momentum: f32(r.momentum) };
    if (r.residual) state.residual = f32(r.residual);
    return state;
  }

  /** θ, momentum and residual as chunks (coordinator/db/model-chunks.ts); clears model_state's old columns. */
  private async writeState(tx: Pick<Sql, 'query'>, runId: number, state: ModelState): Promise<void> {
    await writeModelPart(tx, runId, 'params', state.params, this.chunkBytes);
    await writeModelPart(tx, runId, 'momentum', state.momentum, this.chunkBytes);
    await writeModelPart(tx, runId, 'residual', state.residual ?? null, this.chunkBytes);
  }

  async createRun(spec: RunSpec, state: ModelState): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(`insert into runs (id, name, spec) values ($1, $2, $3)`, [spec.id, spec.name, JSON.stringify(spec)]);
      await tx.query(`insert into model_state (run_id, round, model_hash) values ($1, $2, $3)`, [spec.id, state.round, state.modelHash]);
      await this.writeState(tx, spec.id, state);
    });
  }

  /** Contributions left pending by a coordinator that stopped mid-round can never be committed. */
  async abortPending(runId: number, beforeRound: number): Promise<number> {
    const { rows } = await this.sql.query<{ id: number }>(
      `update contributions set state = 'rejected', reason_code = 'ROUND_ABORTED', reason = 'the coordinator restarted before the round committed'
       where run_id = $1 and state = 'pending' and round <= $2 returning id`,
      [runId, beforeRound],
    );
    return rows.length;
  }

  /**
   * Keeps a hello's session certificate (coordinator/round/session-keys.ts) once: ok when it is new
   * or already kept; else the device the key was certified for (a key has one certificate).
   */
  async keepSessionCertificate(digest: Hex, grant: SessionGrant): Promise<{ ok: true } | { ok: false; device: Address | null }> {
    const c = grant.certificate;
    const { rows } = await this.sql.query<{ digest: string; device: Address }>(
      `with kept as (
         insert into session_certificates (digest, run_id, device, session_key, expiry, signature) values ($1,$2,$3,$4,$5,$6)
         on conflict do nothing returning digest, device)
       select digest, device from kept
       union all select digest, device from session_certificates where digest = $1 or session_key = $4`,
      [digest, c.run, c.device.toLowerCase(), c.sessionKey.toLowerCase(), c.expiry, grant.signature],
    );
    if (rows.some((r) => r.digest === digest)) return { ok: true };
    return { ok: false, device: rows[0]?.device ?? null };
  }

  /** The device a kept session certificate names, or null when none of that digest is kept (a resumed report's chain: session-keys.ts). */
  async sessionCertificateDevice(digest: Hex): Promise<Address | null> {
    const { rows } = await this.sql.query<{ device: Address }>(`select device from session_certificates where digest = $1`, [digest.toLowerCase()]);
    return rows[0]?.device ?? null;
  }

  /** The contribution row of (account, nonce), if one was written: a resumed round finds the rows its first committer wrote. */
  async contributionByNonce(account: Address, nonce: bigint): Promise<{ id: number; runId: number; round: number; state: string } | null> {
    const { rows } = await this.sql.query<{ id: number; run_id: number; round: number; state: string }>(
      `select id, run_id, round, state from contributions where account = $1 and nonce = $2`,
      [account, nonce.toString()],
    );
    return rows[0] ? { id: Number(rows[0].id), runId: Number(rows[0].run_id), round: Number(rows[0].round), state: rows[0].state } : null;
  }

  async nonceUsed(account: Address, nonce: bigint): Promise<boolean> {
    const { rows } = await this.sql.query(`select 1 from contributions where account = $1 and nonce = $2`, [account, nonce.toString()]);
    return rows.length > 0;
  }

  /** Records a verified, signed report as pending. The unique (account, nonce) key refuses replays even under races. */
  async insertPending(
    runId: number,
    account: Address,
    c: Contribution,
    signature: Hex,
    extra: { beneficiary?: Address; residualHash?: Hex; partner?: string | null; device?: DeviceKind | null; certificate?: Hex | null } = {},
  ): Promise<number> {
    const certified = extra.certificate != null;
    try {
      const { rows } = await this.sql.query<{ id: number }>(
        `insert into contributions (run_id, round, cohort, account, frame_hash, aggregate_hash, samples, steps, loss_before, loss_after, compute_ms, nonce, expiry, signature, state, beneficiary, residual_hash, partner, device_kind, frames_root, signed_partner${certified ? ', certificate' : ''})
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,'pending',$15,$16,$17,$18,$19,$20${certified ? ',$21' : ''}) returning id`,
        [
          runId,
          c.round,
          c.cohort,
          account,
          c.frameHash,
          c.aggregateHash,
          c.samples,
          c.steps,
          c.lossBeforeMicro / 1e6,
          c.lossAfterMicro / 1e6,
          c.computeMs,
          c.nonce.toString(),
          Number(c.expiry),
          signature,
          extra.beneficiary ?? account,
          extra.residualHash ?? null,
          extra.partner ?? null,
          extra.device ?? null,
          c.framesRoot,
          c.partner,
          // A row signed by a session key names its certificate (a ledger migrated before session keys has no such column).
          ...(certified ? [extra.certificate] : []),
        ],
      );
      return Number(rows[0].id);
    } catch (e) {
      if (String((e as Error).message).includes('unique')) throw new IdlegradError('REPLAYED_NONCE', `nonce ${c.nonce} was already used by ${account}`);
      throw e;
    }
  }

  async reject(id: number, r: Rejection): Promise<void> {
    await this.sql.query(`update contributions set state = 'rejected', reason_code = $2, reason = $3 where id = $1 and state = 'pending'`, [
      id,
      r.code,
      r.prose,
    ]);
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
      if (commit.groups?.length)
        await tx.query(`insert into round_combines (run_id, round, groups, version) values ($1, $2, $3, $4)`, [
          runId,
          s.round,
          JSON.stringify(commit.groups),
          commit.combineVersion ?? 1,
        ]);
      await tx.query(`update model_state set round = $2, model_hash = $3, params = null, momentum = null, residual = null where run_id = $1`, [
        runId,
        state.round,
        state.modelHash,
      ]);
      await this.writeState(tx, runId, state);
      // One statement each for the accepted and the rejected rows (thousands a round under load).
      if (commit.accepted.length) {
        await tx.query(
          `update contributions c set state = 'accepted', credit_wei = v.w, vests_round = $3 from unnest($1::bigint[], $2::numeric[]) v(id, w) where c.id = v.id and c.state = 'pending'`,
          [commit.accepted.map((a) => a.id), commit.accepted.map((a) => a.creditWei.toString()), commit.vestsRound ?? null],
        );
      }
      if (commit.rejected.length) {
        await tx.query(
          `update contributions c set state = 'rejected', reason_code = v.code, reason = v.prose from unnest($1::bigint[], $2::text[], $3::text[]) v(id, code, prose)
           where c.id = v.id and c.state = 'pending'`,
          [commit.rejected.map((r) => r.id), commit.rejected.map((r) => r.rejection.code), commit.rejected.map((r) => r.rejection.prose)],
        );
      }
    });
  }

  async update(runId: number, round: number): Promise<Uint8Array | null> {
    const { rows } = await this.sql.query<{ frame: Uint8Array }>(`select frame from updates where run_id = $1 and round = $2`, [runId, round]);
    return rows[0]?.frame ?? null;
  }

  /**
   * A committed round's combine record: its groups, level by level as the combine ran them, and
   * the version they were combined with as stored (a row written before versions: 1; a version
   * this code does not know is returned as it is, for the auditor to refuse by name). Null when
   * the round combined nothing (or is not committed).
   */
  async combineRecord(runId: number, round: number): Promise<{ version: number; groups: CombineGroup[] } | null> {
    const { rows } = await this.sql.query<{ groups: CombineGroup[]; version: number | null }>(
      `select groups, version from round_combines where run_id = $1 and round = $2`,
      [runId, round],
    );
    return rows[0] ? { version: rows[0].version ?? 1, groups: rows[0].groups } : null;
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

  /** Cumulative credit per account over everything payable so far (the next epoch's leaves: epochCredit's). */
  async cumulativeCredit(): Promise<{ account: Address; cumulative: bigint }[]> {
    return (await this.epochCredit()).credit;
  }

  /**
   * The one computation of an epoch's per-account amounts: each beneficiary's cumulative
   * payable credit (what it was batched before, from epoch_balances, plus its payable rows not
   * yet batched), and exactly the unbatched contributions they cover, read in one statement: a
   * spot check that ends while an epoch is built can neither slip credit into the tree without
   * its row nor batch a row whose credit the tree lacks. Its cost follows the accounts and the
   * rows since the last epoch, not the whole contribution history.
   */
  async epochCredit(): Promise<{ credit: { account: Address; cumulative: bigint }[]; ids: number[] }> {
    const { rows } = await this.sql.query<{ account: string; total: string; ids: number[] | null }>(
      `with fresh as (select beneficiary, sum(credit_wei) as wei, array_agg(id) as ids from contributions where ${UNBATCHED_PAYABLE} group by beneficiary)
       select coalesce(b.beneficiary, f.beneficiary) as account, (coalesce(b.batched_wei, 0) + coalesce(f.wei, 0))::text as total, f.ids
       from epoch_balances b full join fresh f on f.beneficiary = b.beneficiary order by 1`,
    );
    const credit = rows.map((r) => ({ account: r.account as Address, cumulative: BigInt(r.total) })).filter((r) => r.cumulative > 0n);
    return { credit, ids: rows.flatMap((r) => (r.ids ?? []).map(Number)) };
  }

  async lastEpoch(): Promise<number> {
    const { rows } = await this.sql.query<{ e: number | null }>(`select max(epoch) as e from epochs`);
    return rows[0]?.e ?? 0;
  }

  /** Records a new epoch and moves every accepted contribution into it, atomically. */
  async openEpoch(e: {
    epoch: number;
    runId: number;
    round: number;
    root: Hex;
    modelHash: Hex;
    totalWei: bigint;
    accounts: number;
    tree: unknown;
    ids?: number[];
  }): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(`insert into epochs (epoch, run_id, round, root, model_hash, total_wei, accounts, tree) values ($1,$2,$3,$4,$5,$6,$7,$8)`, [
        e.epoch,
        e.runId,
        e.round,
        e.root,
        e.modelHash,
        e.totalWei.toString(),
        e.accounts,
        JSON.stringify(e.tree),
      ]);
      if (e.ids) await tx.query(BATCH(`id = any($2::bigint[]) and state in ('accepted','verified')`), [e.epoch, e.ids]);
      else await tx.query(BATCH(UNBATCHED_PAYABLE), [e.epoch]);
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
      epoch: Number(r.epoch),
      root: r.root as Hex,
      txHash: r.tx_hash as Hex,
      totalWei: String(r.total_wei),
      accounts: Number(r.accounts),
      round: Number(r.round),
    }));
  }

  /** Epochs opened in the ledger whose transaction was never recorded, oldest first. */
  async unpostedEpochs(): Promise<{ epoch: number; root: Hex; modelHash: Hex }[]> {
    const { rows } = await this.sql.query<{ epoch: number; root: string; model_hash: string }>(
      `select epoch, root, model_hash from epochs where tx_hash is null order by epoch`,
    );
    return rows.map((r) => ({ epoch: Number(r.epoch), root: r.root as Hex, modelHash: r.model_hash as Hex }));
  }

  /** The latest posted epoch's number (no tree: what a hello checks its cached proofs against). */
  async latestPostedEpoch(): Promise<number | null> {
    const { rows } = await this.sql.query<{ e: number | null }>(`select max(epoch) as e from epochs where tx_hash is not null`);
    return rows[0]?.e ?? null;
  }

  /** The latest posted epoch's tree dump (for proofs). */
  async latestPostedTree(): Promise<{ epoch: number; tree: unknown } | null> {
    const { rows } = await this.sql.query<{ epoch: number; tree: unknown }>(
      `select epoch, tree from epochs where tx_hash is not null order by epoch desc limit 1`,
    );
    return rows[0] ?? null;
  }

  async recordClaim(txHash: Hex, account: Address, cumulativeWei: bigint, epoch: number): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      const { rows } = await tx.query(
        `insert into claims (tx_hash, account, cumulative_wei, epoch) values ($1,$2,$3,$4) on conflict do nothing returning tx_hash`,
        [txHash, account, cumulativeWei.toString(), epoch],
      );
      if (rows.length === 0) return false;
      await tx.query(`update contributions set state = 'claimed' where beneficiary = $1 and state = 'claimable' and epoch <= $2`, [account, epoch]);
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
      `select state, count(*)::int as n, coalesce(sum(credit_wei), 0)::text as credit from contributions where beneficiary = $1 or account = $1 group by state`,
      [account],
    );
    let credit = 0n;
    for (const r of rows) {
      counts[r.state] = r.n;
      if (r.state !== 'rejected' && r.state !== 'pending') credit += BigInt(r.credit);
    }
    // The newest 20 rows credited to the account or reported by it for another beneficiary: each
    // side read newest-first through its index and cut at 20. One `beneficiary = $1 or account = $1
    // order by id desc` let the planner walk the primary key backwards past every other account's
    // rows (O(rows in the ledger) per hello: 50 ms at 30,000 accounts).
    const recent = await this.sql.query<AccountSummary['recent'][number]>(
      `select c.id::int as id, c.round, c.state, c.reason_code as code, c.reason, c.samples, c.epoch, c.beneficiary, c.verification, c.device_kind as device, c.partner,
              (select k.tx_hash from claims k where k.account = c.beneficiary and k.epoch >= c.epoch and c.state = 'claimed' order by k.epoch limit 1) as "claimTx"
       from (
         (select * from contributions where beneficiary = $1 order by id desc limit 20)
         union all
         (select * from contributions where account = $1 and beneficiary <> account order by id desc limit 20)
       ) c order by c.id desc limit 20`,
      [account],
    );
    const inEpochs = await this.sql.query<{ t: string }>(
      `select coalesce(sum(c.credit_wei), 0)::text as t from contributions c join epochs e on e.epoch = c.epoch where c.beneficiary = $1 and e.tx_hash is not null`,
      [account],
    );
    return {
      address: account,
      contributions: counts,
      creditWei: credit.toString(),
      claimedWei: (await this.claimedWei(account)).toString(),
      epochCreditWei: inEpochs.rows[0].t,
      wallet: await this.activeWallet(account, Math.floor(Date.now() / 1000)),
      recent: recent.rows,
      byDevice: await this.creditByDevice(account),
      ...(await vestingOf(this.sql, [account])).get(account),
    };
  }

  /** Credited work of an account per device kind (rows from before the column count as WebGPU). */
  async creditByDevice(account: Address): Promise<NonNullable<AccountSummary['byDevice']>> {
    const { rows } = await this.sql.query<{ d: DeviceKind; n: number; samples: number; credit: string }>(
      `select coalesce(device_kind, 'webgpu') as d, count(*)::int as n, coalesce(sum(samples), 0)::int as samples, coalesce(sum(credit_wei), 0)::text as credit
       from contributions where (beneficiary = $1 or account = $1) and state not in ('pending','rejected') group by 1`,
      [account],
    );
    const out: NonNullable<AccountSummary['byDevice']> = {
      webgpu: { contributions: 0, samples: 0, creditWei: '0' },
      cpu: { contributions: 0, samples: 0, creditWei: '0' },
    };
    for (const r of rows) out[r.d] = { contributions: r.n, samples: r.samples, creditWei: r.credit };
    return out;
  }

  /** Credit earned through each partner's widget: credited states only, largest first. */
  async partners(runId: number, limit = 100): Promise<PartnerSummary[]> {
    const { rows } = await this.sql.query<{ partner: string; volunteers: number; n: number; samples: number; credit: string }>(
      `select partner, count(distinct account)::int as volunteers, count(*)::int as n, coalesce(sum(samples), 0)::int as samples, coalesce(sum(credit_wei), 0)::text as credit
       from contributions where run_id = $1 and partner is not null and state not in ('pending','rejected')
       group by partner order by sum(credit_wei) desc, partner limit $2`,
      [runId, limit],
    );
    return rows.map((r) => ({ partner: r.partner, volunteers: r.volunteers, contributions: r.n, samples: r.samples, creditWei: r.credit }));
  }

  /** One contribution with what its timeline needs (GET /api/contributions/:id). */
  async contribution(id: number): Promise<ContributionRecord | null> {
    const { rows } = await this.sql.query<Record<string, unknown>>(
      `select c.id::int as id, c.run_id, c.round, c.account, c.beneficiary, c.state, c.reason_code, c.reason, c.samples, c.credit_wei::text as credit, c.epoch, c.verification, c.verify_detail,
              c.device_kind, c.partner, c.nonce::text as nonce, e.root, e.tx_hash as epoch_tx,
              (select k.tx_hash from claims k where k.account = c.beneficiary and k.epoch >= c.epoch and c.state = 'claimed' order by k.epoch limit 1) as claim_tx
       from contributions c left join epochs e on e.epoch = c.epoch where c.id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      id: Number(r.id),
      run: Number(r.run_id),
      round: Number(r.round),
      account: r.account as Address,
      beneficiary: r.beneficiary as Address,
      state: r.state as ContributionState,
      code: (r.reason_code as RejectionCode | null) ?? null,
      reason: (r.reason as string | null) ?? null,
      samples: Number(r.samples),
      creditWei: String(r.credit),
      epoch: r.epoch === null ? null : Number(r.epoch),
      epochRoot: (r.root as Hex | null) ?? null,
      epochTx: (r.epoch_tx as Hex | null) ?? null,
      claimTx: (r.claim_tx as Hex | null) ?? null,
      verification: (r.verification as VerificationState | null) ?? null,
      check: (r.verify_detail as CheckFigures | null) ?? null,
      device: (r.device_kind as DeviceKind | null) ?? null,
      partner: (r.partner as string | null) ?? null,
      nonce: String(r.nonce),
    };
  }

  async verificationStates(runId: number): Promise<Record<string, number>> {
    const { rows } = await this.sql.query<{ v: string; n: number }>(
      `select verification as v, count(*)::int as n from contributions where run_id = $1 and verification is not null group by verification`,
      [runId],
    );
    return Object.fromEntries(rows.map((r) => [r.v, r.n]));
  }

  async contributionStates(runId: number): Promise<Record<string, number>> {
    const { rows } = await this.sql.query<{ state: string; n: number }>(
      `select state, count(*)::int as n from contributions where run_id = $1 group by state`,
      [runId],
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  // ---- identity: wallet delegations ------------------------------------------------

  /** The highest delegation nonce this device has used, or -1. */
  async delegationNonce(device: Address): Promise<bigint> {
    const { rows } = await this.sql.query<{ n: string | null }>(`select max(nonce)::text as n from delegations where device = $1`, [device]);
    return rows[0]?.n === null || rows[0]?.n === undefined ? -1n : BigInt(rows[0].n);
  }

  /** The wallet a device's newest unexpired delegation names, or null. */
  async activeWallet(device: Address, nowSec: number): Promise<Address | null> {
    const { rows } = await this.sql.query<{ wallet: Address; expiry: string }>(
      `select wallet, expiry::text from delegations where device = $1 order by nonce desc limit 1`,
      [device],
    );
    return rows[0] && Number(rows[0].expiry) >= nowSec ? rows[0].wallet : null;
  }

  /**
   * Records a verified delegation. Credit not yet placed in an epoch moves to the wallet;
   * credit already in a posted cumulative root stays with the device's leaf (moving it
   * would let both the device and the wallet claim it).
   */
  async insertDelegation(d: Delegation, signature: Hex): Promise<void> {
    try {
      await this.sql.transaction(async (tx) => {
        await tx.query(`insert into delegations (device, nonce, wallet, expiry, signature) values ($1,$2,$3,$4,$5)`, [
          d.device,
          d.nonce.toString(),
          d.wallet,
          Number(d.expiry),
          signature,
        ]);
        await tx.query(`update contributions set beneficiary = $2 where account = $1 and state in ('pending','accepted','verified')`, [d.device, d.wallet]);
      });
    } catch (e) {
      if (String((e as Error).message).includes('duplicate key'))
        throw new IdlegradError('REPLAYED_NONCE', `delegation nonce ${d.nonce} was already used by ${d.device}`);
      throw e;
    }
  }

  // ---- verification ----------------------------------------------------------------

  async contributionsForVerification(ids: number[]): Promise<VerifiableContribution[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.sql.query<Record<string, unknown>>(
      `select id, round, cohort, account, frame_hash, residual_hash, samples, steps, state, verification, device_kind from contributions where id = any($1::bigint[]) order by id`,
      [ids],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      round: Number(r.round),
      cohort: Number(r.cohort),
      account: r.account as Address,
      frameHash: r.frame_hash as Hex,
      residualHash: (r.residual_hash as Hex | null) ?? null,
      samples: Number(r.samples),
      steps: Number(r.steps),
      state: r.state as ContributionState,
      verification: (r.verification as VerificationState | null) ?? null,
      device: (r.device_kind as DeviceKind | null) ?? null,
    }));
  }

  /** Contributions sampled for a check that has not finished (e.g. across a restart). */
  async awaitingVerification(runId: number): Promise<number[]> {
    const { rows } = await this.sql.query<{ id: number }>(
      `select id from contributions where run_id = $1 and state = 'accepted' and verification = 'sampled' order by id`,
      [runId],
    );
    return rows.map((r) => Number(r.id));
  }

  async setVerification(ids: number[], v: Extract<VerificationState, 'sampled' | 'skipped' | 'unverifiable'>): Promise<void> {
    if (ids.length === 0) return;
    await this.sql.query(`update contributions set verification = $2 where id = any($1::bigint[]) and state = 'accepted'`, [ids, v]);
  }

  /** A finished check: passed (rejection null) → `verified`; failed → `rejected` with its code and prose. Updates the identity's reputation. */
  /**
   * A check's verdict. A failure rejects the checked row and claws back every other row of the
   * identity not yet in an epoch (accepted or verified: unvested, or vested but unbatched) as
   * CLAWED_BACK, in the same transaction. Returns how many rows were clawed back.
   */
  async recordCheck(
    id: number,
    account: Address,
    rejection: Rejection | null,
    detail: unknown,
    reputationDelta: { pass: number; fail: number },
  ): Promise<number> {
    return this.sql.transaction(async (tx) => {
      let clawed = 0;
      if (!rejection) {
        await tx.query(`update contributions set state = 'verified', verification = 'passed', verify_detail = $2 where id = $1 and state = 'accepted'`, [
          id,
          JSON.stringify(detail),
        ]);
      } else {
        await tx.query(
          `update contributions set state = 'rejected', verification = 'failed', reason_code = $2, reason = $3, verify_detail = $4 where id = $1 and state = 'accepted'`,
          [id, rejection.code, rejection.prose, JSON.stringify(detail)],
        );
        const { rows } = await tx.query<{ id: number }>(
          `update contributions set state = 'rejected', reason_code = 'CLAWED_BACK', reason = $3 where account = $1 and id <> $2 and state in ('accepted','verified') returning id`,
          [account, id, `contribution ${id} failed its spot check (${rejection.code}): this identity's credit not yet in an epoch is taken back`],
        );
        clawed = rows.length;
      }
      const passed = rejection === null;
      await tx.query(
        `insert into identities (account, checks_passed, checks_failed, reputation, last_failure_code, last_failure, last_passed_id) values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (account) do update set checks_passed = identities.checks_passed + excluded.checks_passed,
           last_passed_id = greatest(identities.last_passed_id, excluded.last_passed_id),
           checks_failed = identities.checks_failed + excluded.checks_failed,
           reputation = identities.reputation + excluded.reputation,
           last_failure_code = coalesce(excluded.last_failure_code, identities.last_failure_code),
           last_failure = coalesce(excluded.last_failure, identities.last_failure)`,
        [
          account,
          passed ? 1 : 0,
          passed ? 0 : 1,
          passed ? reputationDelta.pass : -reputationDelta.fail,
          rejection?.code ?? null,
          rejection?.prose ?? null,
          passed ? id : null,
        ],
      );
      return clawed;
    });
  }

  /** identity() for many accounts in one statement (the validator's sampling after each commit). */
  async identities(accounts: Address[]): Promise<Map<Address, IdentityRecord>> {
    const { rows } = await this.sql.query<{ account: Address; checks_passed: number; checks_failed: number; reputation: number }>(
      `select account, checks_passed, checks_failed, reputation from identities where account = any($1::text[])`,
      [[...new Set(accounts)]],
    );
    const found = new Map(rows.map((r) => [r.account, r]));
    return new Map(
      accounts.map((account) => {
        const r = found.get(account);
        return [account, { account, checksPassed: r?.checks_passed ?? 0, checksFailed: r?.checks_failed ?? 0, reputation: Number(r?.reputation ?? 0) }];
      }),
    );
  }

  /** Identities whose reputation is negative (verify/quarantine.ts seats them apart). */
  async negativeReputations(): Promise<Address[]> {
    const { rows } = await this.sql.query<{ account: Address }>(`select account from identities where reputation < 0`);
    return rows.map((r) => r.account);
  }

  async identity(account: Address): Promise<IdentityRecord> {
    const { rows } = await this.sql.query<{ checks_passed: number; checks_failed: number; reputation: number }>(
      `select checks_passed, checks_failed, reputation from identities where account = $1`,
      [account],
    );
    const r = rows[0];
    return { account, checksPassed: r?.checks_passed ?? 0, checksFailed: r?.checks_failed ?? 0, reputation: Number(r?.reputation ?? 0) };
  }
}
