// What one reward epoch's tree was computed from, read from the ledger in one place (the
// published epoch file, coordinator/rewards/epoch-file.ts, reads nothing else): the epoch, the
// leaves of the epoch before it, every contribution batched into it with each field its
// signature covers, the delegations that route credit to wallets, the runs' credit rule, and
// the refusals that spot checks and clawbacks recorded on its rounds.
//
// The tree is cumulative and a batched row never changes again (its credit, beneficiary and
// epoch are fixed when the epoch opens: Ledger.openEpoch), so epoch N's leaves are epoch
// N−1's leaves plus the credit of the rows batched into N.
import type { Address, Hex } from 'viem';
import type { SessionCertificateJson } from '../../shared/session-key.ts';
import type { RunSpec } from '../../shared/config.ts';
import type { RejectionCode, VerificationState } from '../../shared/wire/index.ts';
import type { Sql } from './sql.ts';

export interface EpochRow {
  epoch: number;
  runId: number;
  round: number;
  root: Hex;
  modelHash: Hex;
  txHash: Hex | null;
  /** The tree as posted (StandardMerkleTree dump). */
  tree: unknown;
}

/** A batched contribution: its signed fields as the ledger keeps them (null: not kept for this row). */
export interface BatchedContribution {
  id: number;
  runId: number;
  round: number;
  cohort: number;
  account: Address;
  beneficiary: Address;
  frameHash: Hex;
  aggregateHash: Hex;
  framesRoot: Hex | null;
  residualHash: Hex | null;
  samples: number;
  steps: number;
  lossBefore: number;
  lossAfter: number;
  computeMs: number;
  nonce: string;
  expiry: string;
  signature: Hex;
  /** The session certificate whose key signed the report; null: the device key signed it (protocol ≤ 5). */
  session: { certificate: SessionCertificateJson; signature: Hex } | null;
  /** The partner id the report signed ('' for none); null: written before partners were signed. */
  signedPartner: string | null;
  creditWei: string;
  verification: VerificationState | null;
  vestsRound: number | null;
}

export interface EpochInputs {
  epoch: EpochRow;
  previous: EpochRow | null;
  contributions: BatchedContribution[];
  /** The newest delegation of each (device, wallet) pair a batched row pays through. */
  delegations: { device: Address; wallet: Address; nonce: string; expiry: string; signature: Hex }[];
  runs: Pick<RunSpec, 'id' | 'rewards'>[];
  verdicts: { id: number; account: Address; round: number; code: RejectionCode; prose: string }[];
}

const epochRow = (r: Record<string, unknown>): EpochRow => ({
  epoch: Number(r.epoch),
  runId: Number(r.run_id),
  round: Number(r.round),
  root: r.root as Hex,
  modelHash: r.model_hash as Hex,
  txHash: (r.tx_hash as Hex | null) ?? null,
  tree: r.tree,
});

/** Epochs whose transaction the ledger recorded, oldest first. */
export async function postedEpochNumbers(sql: Sql): Promise<number[]> {
  const { rows } = await sql.query<{ epoch: number }>(`select epoch from epochs where tx_hash is not null order by epoch`);
  return rows.map((r) => Number(r.epoch));
}

/** The root and transaction the ledger recorded for posted epoch `epoch`; null when it has none. */
export async function postedEpoch(sql: Sql, epoch: number): Promise<{ root: Hex; txHash: Hex } | null> {
  const { rows } = await sql.query<{ root: Hex; tx_hash: Hex }>(`select root, tx_hash from epochs where epoch = $1 and tx_hash is not null`, [epoch]);
  return rows[0] ? { root: rows[0].root, txHash: rows[0].tx_hash } : null;
}

/** Everything epoch `epoch`'s root was computed from; null when the ledger has no such epoch. */
export async function epochInputs(sql: Sql, epoch: number): Promise<EpochInputs | null> {
  const { rows: es } = await sql.query<Record<string, unknown>>(`select * from epochs where epoch <= $1 order by epoch desc limit 2`, [epoch]);
  if (!es[0] || Number(es[0].epoch) !== epoch) return null;
  const e = epochRow(es[0]);
  const previous = es[1] ? epochRow(es[1]) : null;
  const { rows } = await sql.query<Record<string, unknown>>(
    `select c.id, c.run_id, c.round, c.cohort, c.account, c.beneficiary, c.frame_hash, c.aggregate_hash, c.frames_root, c.residual_hash, c.samples, c.steps,
            c.loss_before, c.loss_after, c.compute_ms, c.nonce::text as nonce, c.expiry::text as expiry, c.signature, c.signed_partner, c.credit_wei::text as credit, c.verification, c.vests_round,
            s.run_id as cert_run, s.device as cert_device, s.session_key as cert_key, s.expiry::text as cert_expiry, s.signature as cert_signature
     from contributions c left join session_certificates s on s.digest = c.certificate where c.epoch = $1 order by c.id`,
    [epoch],
  );
  const contributions: BatchedContribution[] = rows.map((r) => ({
    id: Number(r.id),
    runId: Number(r.run_id),
    round: Number(r.round),
    cohort: Number(r.cohort),
    account: r.account as Address,
    beneficiary: r.beneficiary as Address,
    frameHash: r.frame_hash as Hex,
    aggregateHash: r.aggregate_hash as Hex,
    framesRoot: (r.frames_root as Hex | null) ?? null,
    residualHash: (r.residual_hash as Hex | null) ?? null,
    samples: Number(r.samples),
    steps: Number(r.steps),
    lossBefore: Number(r.loss_before),
    lossAfter: Number(r.loss_after),
    computeMs: Number(r.compute_ms),
    nonce: String(r.nonce),
    expiry: String(r.expiry),
    signature: r.signature as Hex,
    session:
      r.cert_key == null
        ? null
        : {
            certificate: { run: Number(r.cert_run), device: r.cert_device as Address, sessionKey: r.cert_key as Hex, expiry: String(r.cert_expiry) },
            signature: r.cert_signature as Hex,
          },
    signedPartner: (r.signed_partner as string | null) ?? null,
    creditWei: String(r.credit),
    verification: (r.verification as VerificationState | null) ?? null,
    vestsRound: r.vests_round === null ? null : Number(r.vests_round),
  }));
  const routed = contributions.filter((c) => c.beneficiary !== c.account);
  const { rows: ds } = routed.length
    ? await sql.query<{ device: Address; wallet: Address; nonce: string; expiry: string; signature: Hex }>(
        `select distinct on (device, wallet) device, wallet, nonce::text as nonce, expiry::text as expiry, signature from delegations
         where (device, wallet) in (select * from unnest($1::text[], $2::text[])) order by device, wallet, nonce desc`,
        [routed.map((c) => c.account), routed.map((c) => c.beneficiary)],
      )
    : { rows: [] };
  const runIds = [...new Set(contributions.map((c) => c.runId))];
  const { rows: runs } = await sql.query<{ spec: RunSpec }>(`select spec from runs where id = any($1::int[]) order by id`, [runIds]);
  const { rows: verdicts } = await sql.query<{ id: number; account: Address; round: number; code: RejectionCode; prose: string }>(
    `select id::int as id, account, round, reason_code as code, coalesce(reason, '') as prose from contributions
     where run_id = $1 and round > $2 and round <= $3 and state = 'rejected' and (verification = 'failed' or reason_code = 'CLAWED_BACK') order by id`,
    [e.runId, previous && previous.runId === e.runId ? previous.round : -1, e.round],
  );
  return {
    epoch: e,
    previous,
    contributions,
    delegations: ds,
    runs: runs.map((r) => ({ id: r.spec.id, rewards: r.spec.rewards })),
    verdicts,
  };
}
