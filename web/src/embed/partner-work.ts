// What this visitor's GPU did for the partner whose widget they use: their own contributions
// made through this partner's widget, from the account's recent rows (the ledger's, not counted
// in the page). Refused work is counted apart; pending work is counted as pending.
import type { AccountRow } from '../../../shared/wire/index.ts';

export interface PartnerWork {
  /** Rounds accepted or further along (accepted, verified, batched, claimable, claimed). */
  credited: number;
  pending: number;
  rejected: number;
  /** Samples trained in the credited rounds. */
  samples: number;
  /** The account's recent rows are a window (the latest ones); true when it may hold more. */
  partial: boolean;
}

/** The ledger returns at most this many recent rows (shared/wire/http.ts parseAccountSummary). */
export const RECENT_ROWS_MAX = 100;

export function partnerWork(rows: readonly AccountRow[], partner: string): PartnerWork {
  const w: PartnerWork = { credited: 0, pending: 0, rejected: 0, samples: 0, partial: rows.length >= RECENT_ROWS_MAX };
  for (const r of rows) {
    if (r.partner !== partner) continue;
    if (r.state === 'pending') w.pending++;
    else if (r.state === 'rejected') w.rejected++;
    else {
      w.credited++;
      w.samples += r.samples;
    }
  }
  return w;
}
