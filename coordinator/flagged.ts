// Who misbehaved, read from the ledger for the dashboard: refused contributions counted by
// reason code, and the identities whose own conduct got work refused — a failed spot check
// (which also cost reputation, coordinator/validator.ts) or a frame the cohort's robust
// aggregator left out. Refusals that are nobody's fault (an interrupted round, a report that
// arrived after its round committed, a cohort that missed its quorum) are counted by reason but
// flag no one.
import type { Address } from 'viem';
import type { FlaggedSummary } from '../shared/protocol.ts';
import type { Sql } from './db/sql.ts';

/** Reason codes that blame the identity itself. */
export const CONDUCT_CODES = ['LEFT_OUT', 'WORK_MISMATCH', 'FRAME_MISMATCH', 'EVIDENCE_MISMATCH', 'EVIDENCE_WITHHELD', 'BAD_FRAME', 'CLAIM_MISMATCH'] as const;

const codeOf = (reason: string | null) => (reason ?? 'UNKNOWN').split(':')[0].trim();

export async function flaggedSummary(sql: Pick<Sql, 'query'>, runId: number, limit = 50): Promise<FlaggedSummary> {
  const { rows } = await sql.query<{ account: string; reason: string | null }>(`select account, reason from contributions where run_id = $1 and state = 'rejected'`, [runId]);
  const rejections: Record<string, number> = {};
  const refused = new Map<string, { n: number; last: string | null }>();
  for (const r of rows) {
    const code = codeOf(r.reason);
    rejections[code] = (rejections[code] ?? 0) + 1;
    if ((CONDUCT_CODES as readonly string[]).includes(code)) refused.set(r.account, { n: (refused.get(r.account)?.n ?? 0) + 1, last: r.reason });
  }
  const ids = await sql.query<{ account: string; reputation: number; checks_failed: number; last_failure: string | null }>(
    `select account, reputation, checks_failed, last_failure from identities where checks_failed > 0 or reputation < 0`,
  );
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
    return {
      account: account as Address,
      reputation: Number(id?.reputation ?? 0),
      checksFailed: id?.checks_failed ?? 0,
      refused: refused.get(account)?.n ?? 0,
      creditWei: credit.rows.find((r) => r.account === account)?.credit ?? '0',
      lastReason: id?.last_failure ?? refused.get(account)?.last ?? null,
    };
  });
  identities.sort((a, b) => a.reputation - b.reputation || b.refused - a.refused || (a.account < b.account ? -1 : 1));
  return { rejections, identities: identities.slice(0, limit) };
}
