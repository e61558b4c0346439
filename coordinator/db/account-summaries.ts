// Account summaries for many accounts in five statements per slice of a few hundred accounts
// instead of five per account:
// after each round the coordinator pushes every reporter its summary, and with thousands
// of volunteers a round the per-account queries were most of the coordinator's time
// (`npm run load`). Each summary is what Ledger.accountSummary returns for that account
// (the test beside this file holds the two to the same answer).
import type { Address } from 'viem';
import type { AccountSummary, ContributionState, DeviceKind } from '../../shared/wire/index.ts';
import type { Sql } from './sql.ts';
import { UNBATCHED_PAYABLE } from './creditable.ts';

const SLICE = 250;
const STATES: ContributionState[] = ['pending', 'accepted', 'verified', 'rejected', 'batched', 'claimable', 'claimed'];

export async function accountSummaries(sql: Sql, accounts: Address[], nowSec: number): Promise<Map<Address, Omit<AccountSummary, 'claimable'>>> {
  const list = [...new Set(accounts.map((a) => a.toLowerCase() as Address))];
  // A few hundred accounts at a time: PGlite runs one statement at a time, and reports being
  // recorded meanwhile wait for the statement in progress, so no statement covers every
  // account of a large push (the cost is per account, so the slices add nothing).
  const out = new Map<Address, Omit<AccountSummary, 'claimable'>>();
  for (let i = 0; i < list.length; i += SLICE) for (const [a, s] of await sliceSummaries(sql, list.slice(i, i + SLICE), nowSec)) out.set(a, s);
  return out;
}

async function sliceSummaries(sql: Sql, list: Address[], nowSec: number): Promise<Map<Address, Omit<AccountSummary, 'claimable'>>> {
  const out = new Map<Address, Omit<AccountSummary, 'claimable'>>();
  if (list.length === 0) return out;
  for (const a of list) {
    const contributions = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<ContributionState, number>;
    const none = { contributions: 0, samples: 0, creditWei: '0' };
    out.set(a, {
      address: a,
      contributions,
      creditWei: '0',
      claimedWei: '0',
      epochCreditWei: '0',
      wallet: null,
      recent: [],
      byDevice: { webgpu: { ...none }, cpu: { ...none } },
    });
  }
  // Each account's rows (credited to it, or reported by it for another beneficiary: the
  // partial index holds those) by state and device kind. Every statement below reads each
  // account through its index in a lateral subquery (an aggregate or a limit per account, so
  // the planner cannot turn it into one scan of the table): `= any($1)` over a slice was planned
  // as a scan of every contribution (PGlite never gathers statistics), once per slice of 250, so
  // a push cost O(accounts × rows) — 28.7 s of ledger CPU at 100,000 volunteers.
  const groups = await sql.query<{ a: Address; state: ContributionState; d: DeviceKind; n: number; samples: number; credit: string }>(
    `select q.a, g.state, g.d, g.n, g.samples, g.credit from unnest($1::text[]) q(a) cross join lateral (
       select state, coalesce(device_kind, 'webgpu') as d, count(*)::int as n, coalesce(sum(samples), 0)::int as samples, coalesce(sum(credit_wei), 0)::text as credit
       from contributions where beneficiary = q.a group by 1, 2
       union all
       select state, coalesce(device_kind, 'webgpu'), count(*)::int, coalesce(sum(samples), 0)::int, coalesce(sum(credit_wei), 0)::text
       from contributions where account = q.a and beneficiary <> account group by 1, 2
     ) g`,
    [list],
  );
  const credit = new Map<Address, bigint>();
  const byDevice = new Map<string, { n: number; samples: number; credit: bigint }>();
  for (const r of groups.rows) {
    out.get(r.a)!.contributions[r.state] += r.n;
    if (r.state === 'rejected' || r.state === 'pending') continue;
    credit.set(r.a, (credit.get(r.a) ?? 0n) + BigInt(r.credit));
    const k = `${r.a}:${r.d}`;
    const d = byDevice.get(k) ?? { n: 0, samples: 0, credit: 0n };
    byDevice.set(k, { n: d.n + r.n, samples: d.samples + r.samples, credit: d.credit + BigInt(r.credit) });
  }
  for (const [a, c] of credit) out.get(a)!.creditWei = c.toString();
  for (const [k, d] of byDevice) {
    const [a, kind] = k.split(':') as [Address, DeviceKind];
    out.get(a)!.byDevice![kind] = { contributions: d.n, samples: d.samples, creditWei: d.credit.toString() };
  }
  // Each account's newest 20 rows: credited to it, or reported by it for another beneficiary,
  // each side read newest-first through its index and cut at 20. One JSON array per account:
  // PGlite decodes a JSON column far faster than 20 rows of 11 columns.
  {
    const recent = await sql.query<{ a: Address; recent: AccountSummary['recent'] }>(
      `select q.a, (
         select coalesce(json_agg(json_build_object(
                  'id', t.id, 'round', t.round, 'state', t.state, 'code', t.reason_code, 'reason', t.reason, 'samples', t.samples, 'epoch', t.epoch,
                  'beneficiary', t.beneficiary, 'verification', t.verification, 'device', t.device_kind, 'partner', t.partner,
                  'claimTx', case when t.state = 'claimed' then (select k.tx_hash from claims k where k.account = t.beneficiary and k.epoch >= t.epoch order by k.epoch limit 1) end
                ) order by t.id desc), '[]'::json)
         from (
           select * from (
             (select c.id::int as id, c.round, c.state, c.reason_code, c.reason, c.samples, c.epoch, c.beneficiary, c.verification, c.device_kind, c.partner
              from contributions c where c.beneficiary = q.a order by c.id desc limit 20)
             union all
             (select c.id::int, c.round, c.state, c.reason_code, c.reason, c.samples, c.epoch, c.beneficiary, c.verification, c.device_kind, c.partner
              from contributions c where c.account = q.a and c.beneficiary <> c.account order by c.id desc limit 20)
           ) u order by u.id desc limit 20
         ) t
       ) as recent
       from unnest($1::text[]) q(a)`,
      [list],
    );
    for (const r of recent.rows) out.get(r.a)!.recent = r.recent;
  }
  const inEpochs = await sql.query<{ a: Address; t: string | null }>(
    `select q.a, s.t from unnest($1::text[]) q(a) cross join lateral (
       select sum(c.credit_wei)::text as t from contributions c join epochs e on e.epoch = c.epoch where c.beneficiary = q.a and e.tx_hash is not null
     ) s`,
    [list],
  );
  for (const r of inEpochs.rows) if (r.t !== null) out.get(r.a)!.epochCreditWei = r.t;
  for (const [a, v] of await vestingOf(sql, list)) Object.assign(out.get(a)!, v);
  const claimed = await sql.query<{ a: Address; m: string | null }>(
    `select q.a, (select max(k.cumulative_wei) from claims k where k.account = q.a)::text as m from unnest($1::text[]) q(a)`,
    [list],
  );
  for (const r of claimed.rows) out.get(r.a)!.claimedWei = BigInt(r.m ?? 0).toString();
  const wallets = await sql.query<{ a: Address; wallet: Address; expiry: string }>(
    `select q.a, w.wallet, w.expiry::text as expiry from unnest($1::text[]) q(a) cross join lateral (
       select wallet, expiry from delegations where device = q.a order by nonce desc limit 1
     ) w`,
    [list],
  );
  for (const r of wallets.rows) if (Number(r.expiry) >= nowSec) out.get(r.a)!.wallet = r.wallet;
  return out;
}

/**
 * Credited rows not yet in an epoch, split by the credit rule (creditable.ts VESTED): vesting
 * (waits for round + W and a later passed check, or round + 2W) and vested (waits for the next
 * epoch). A row still being checked counts as vesting.
 */
export async function vestingOf(sql: Sql, accounts: Address[]): Promise<Map<Address, { vestingWei: string; vestedWei: string }>> {
  const out = new Map(accounts.map((a) => [a, { vestingWei: '0', vestedWei: '0' }]));
  const { rows } = await sql.query<{ a: Address; vested: string; total: string }>(
    `select q.a, v.vested, v.total from unnest($1::text[]) q(a) cross join lateral (
       select coalesce(sum(credit_wei) filter (where ${UNBATCHED_PAYABLE}), 0)::text as vested, coalesce(sum(credit_wei), 0)::text as total
       from contributions where beneficiary = q.a and state in ('accepted','verified')
     ) v`,
    [[...new Set(accounts)]],
  );
  for (const r of rows) out.set(r.a, { vestingWei: (BigInt(r.total) - BigInt(r.vested)).toString(), vestedWei: r.vested });
  return out;
}
