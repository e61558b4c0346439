// Pending contributions written in batches: every verified report that arrives while a
// write is in flight joins the next one, and each batch is one transaction (the wallet
// each device delegates to, then one multi-row insert). Under load this turns a thousand
// single-row transactions a second into a few dozen; each report still gets its own row
// id or its own named refusal, and a failed batch writes nothing.
import type { Address, Hex } from 'viem';
import type { Contribution } from '../../shared/eip712.ts';
import { IdlegradError } from '../../shared/errors.ts';
import type { Sql } from './sql.ts';

interface Item {
  runId: number;
  account: Address;
  c: Contribution;
  signature: Hex;
  residualHash: Hex | null;
  nowSec: number;
  origin: ReportOrigin;
  resolve(r: { id: number; beneficiary: Address }): void;
  reject(e: unknown): void;
}

/**
 * Where a report came from: the registered partner it credits (its signed `partner`, when the
 * lead registered it; else null) and what trained it; null when not said.
 */
export interface ReportOrigin {
  partner: string | null;
  device: 'webgpu' | 'cpu' | null;
  /** The digest of the session certificate whose key signed the report (shared/session-key.ts). */
  certificate?: Hex | null;
}

const INT4_MAX = 0x7fffffff;
const INT8_MAX = (1n << 63n) - 1n;

export class PendingWriter {
  private queue: Item[] = [];
  private writing = false;

  constructor(
    private readonly sql: Sql,
    private readonly gatherMs = 5,
    private readonly maxBatch = 1000,
  ) {}

  /**
   * Records a verified, signed report as pending, credited to the device's active wallet
   * delegation (else the device). The unique (account, nonce) key refuses replays, also
   * between two reports in the same batch: REPLAYED_NONCE.
   */
  record(
    runId: number,
    account: Address,
    c: Contribution,
    signature: Hex,
    residualHash: Hex | null,
    nowSec: number,
    origin: ReportOrigin = { partner: null, device: null },
  ): Promise<{ id: number; beneficiary: Address }> {
    // A value its column cannot hold would fail the whole batch: refuse it alone, by name.
    const int4 = (['round', 'cohort', 'samples', 'steps', 'computeMs'] as const).find((k) => c[k] > INT4_MAX);
    if (int4) return Promise.reject(new IdlegradError('LIMIT_EXCEEDED', `contribution.${int4} ${c[int4]} exceeds the ledger's limit ${INT4_MAX}`));
    if (c.expiry > INT8_MAX)
      return Promise.reject(new IdlegradError('LIMIT_EXCEEDED', `contribution.expiry ${c.expiry} exceeds the ledger's limit ${INT8_MAX}`));
    return new Promise((resolve, reject) => {
      this.queue.push({ runId, account, c, signature, residualHash, nowSec, origin, resolve, reject });
      // The first report of a batch waits `gatherMs` for others: one transaction then carries many.
      if (!this.writing) {
        this.writing = true;
        setTimeout(() => void this.drain(), this.gatherMs);
      }
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const out = await this.write(batch);
          batch.forEach((it, i) =>
            out[i] ? it.resolve(out[i]!) : it.reject(new IdlegradError('REPLAYED_NONCE', `nonce ${it.c.nonce} was already used by ${it.account}`)),
          );
        } catch (e) {
          for (const it of batch) it.reject(e);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private write(batch: Item[]): Promise<({ id: number; beneficiary: Address } | null)[]> {
    return this.sql.transaction(async (tx) => {
      const devices = [...new Set(batch.map((it) => it.account))];
      const { rows: wallets } = await tx.query<{ device: Address; wallet: Address; expiry: string }>(
        `select distinct on (device) device, wallet, expiry::text from delegations where device = any($1::text[]) order by device, nonce desc`,
        [devices],
      );
      const walletOf = new Map(wallets.map((w) => [w.device, w]));
      const beneficiaries = batch.map((it) => {
        const w = walletOf.get(it.account);
        return w && Number(w.expiry) >= it.nowSec ? w.wallet : it.account;
      });
      const col = <T>(f: (it: Item) => T) => batch.map(f);
      const { rows } = await tx.query<{ id: string | number; account: string; nonce: string }>(
        `insert into contributions (run_id, round, cohort, account, frame_hash, aggregate_hash, samples, steps, loss_before, loss_after, compute_ms, nonce, expiry, signature, state, beneficiary, residual_hash, partner, device_kind, frames_root, signed_partner, certificate)
         select r, rd, co, a, fh, ah, sa, st, lb, la, cm, n, ex, sg, 'pending', b, rh, pa, dk, fr, sp, ce
         from unnest($1::int[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[], $9::float8[], $10::float8[], $11::int[], $12::numeric[], $13::bigint[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[])
           as t(r, rd, co, a, fh, ah, sa, st, lb, la, cm, n, ex, sg, b, rh, pa, dk, fr, sp, ce)
         on conflict (account, nonce) do nothing returning id, account, nonce::text`,
        [
          col((it) => it.runId),
          col((it) => it.c.round),
          col((it) => it.c.cohort),
          col((it) => it.account),
          col((it) => it.c.frameHash),
          col((it) => it.c.aggregateHash),
          col((it) => it.c.samples),
          col((it) => it.c.steps),
          col((it) => it.c.lossBeforeMicro / 1e6),
          col((it) => it.c.lossAfterMicro / 1e6),
          col((it) => it.c.computeMs),
          col((it) => it.c.nonce.toString()),
          col((it) => it.c.expiry.toString()),
          col((it) => it.signature),
          beneficiaries,
          col((it) => it.residualHash),
          col((it) => it.origin.partner),
          col((it) => it.origin.device),
          col((it) => it.c.framesRoot),
          col((it) => it.c.partner),
          col((it) => it.origin.certificate ?? null),
        ],
      );
      // A key inserted once answers the first report that carries it; a second one in the same batch is a replay.
      const ids = new Map(rows.map((r) => [`${r.account}:${r.nonce}`, Number(r.id)]));
      return batch.map((it, i) => {
        const key = `${it.account}:${it.c.nonce}`;
        const id = ids.get(key);
        if (id === undefined) return null;
        ids.delete(key);
        return { id, beneficiary: beneficiaries[i] };
      });
    });
  }
}
