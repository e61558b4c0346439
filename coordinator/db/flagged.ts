// Who misbehaved, read from the ledger for the dashboard: refused contributions counted by
// code (contributions.reason_code), and the identities whose own conduct got work refused — a
// code marked `conduct` in shared/wire/rejections.ts: a failed spot check (which also cost
// reputation, coordinator/verify/validator.ts) or a frame the cohort's robust aggregator left out.
// Refusals that are nobody's fault (an interrupted round, a report that arrived after its round
// committed, a cohort that missed its quorum) are counted by code but flag no one.
import type { Address } from 'viem';
import { REJECTIONS, type FlaggedSummary, type RejectionCode } from '../../shared/wire/index.ts';
import type { Sql } from './sql.ts';

export async function flaggedSummary(sql: Pick<Sql, 'query'>, runId: number, limit = 50): Promise<FlaggedSummary> {
  const { rows } = await sql.query<{ account: string; code: RejectionCode | null; reason: string | null }>(
    `select account, reason_code as code, reason from contributions where run_id = $1 and state = 'rejected' order by id`,
    [runId],
  );
  const rejections: FlaggedSummary['rejections'] = {};
  let uncoded = 0;
  const refused = new Map<string, { n: number; code: RejectionCode | null; prose: string | null }>();
  for (const r of rows) {
    if (r.code === null) {
      uncoded++;
      continue;
    }
    rejections[r.code] = (rejections[r.code] ?? 0) + 1;
    if (REJECTIONS[r.code].conduct) refused.set(r.account, { n: (refused.get(r.account)?.n ?? 0) + 1, code: r.code, prose: r.reason });
  }
  const ids = await sql.query<{
    account: string;
    reputation: number;
    checks_failed: number;
    last_failure_code: RejectionCode | null;
    last_failure: string | null;
  }>(`select account, reputation, checks_failed, last_failure_code, last_failure from identities where checks_failed > 0 or reputation < 0`);
  const accounts = [...new Set([...refused.keys(), ...ids.rows.map((r) => r.account)])];
  const credit = accounts.length
    ? await sql.query<{ account: string; credit: string }>(
        `select account, coalesce(sum(credit_wei), 0)::text as credit from contributions
         where run_id = $1 and account = any($2) and state not in ('pending', 'rejected') group by account`,
        [runId, accounts],
      )
    : { rows: [] };
  const identities = accounts.map((account) => {
    const id = ids.rows.find((r) => r.account === account);
    // Its last failed check, else its last refusal for its own conduct.
    const last = id && (id.last_failure_code || id.last_failure) ? { code: id.last_failure_code, prose: id.last_failure } : refused.get(account);
    return {
      account: account as Address,
      reputation: Number(id?.reputation ?? 0),
      checksFailed: id?.checks_failed ?? 0,
      refused: refused.get(account)?.n ?? 0,
      creditWei: credit.rows.find((r) => r.account === account)?.credit ?? '0',
      lastCode: last?.code ?? null,
      lastReason: last?.prose ?? null,
    };
  });
  identities.sort((a, b) => a.reputation - b.reputation || b.refused - a.refused || (a.account < b.account ? -1 : 1));
  return { rejections, uncoded, identities: identities.slice(0, limit) };
}
