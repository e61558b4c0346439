// The committer's lease (issue 17 item 4): one committer per run holds it, with a fencing token
// that grows by one at every change of holder. Expiry is by the database's clock (`now()`), not
// by a connection: a host that crashes, or freezes with its TCP connection open, loses the lease
// when its time is up, and a successor can take it then. Every ledger write the holder makes goes
// through `fencedSql`, whose transactions first lock the lease row and check that its token is
// still theirs: a deposed committer's write is refused, and a takeover (which updates that row)
// waits for a fenced transaction in progress to end, so no write of the old holder lands after it.
// Coordination state, not ledger data: the table is created here, as cluster-lease.ts does.
import { BaseError } from '../../shared/errors.ts';
import type { Sql } from './sql-surface.ts';

export type LeaseErrorCode = 'LEASE_FENCED' | 'LEASE_BAD_INPUT';

export class LeaseError extends BaseError<LeaseErrorCode> {
  override name = 'LeaseError';
}

export interface CommitterLease {
  runId: number;
  token: number;
  holder: string;
}

type Session = Pick<Sql, 'query'>;

export async function ensureCommitterLeaseTable(sql: Session): Promise<void> {
  await sql.query(
    `create table if not exists committer_lease (run_id bigint primary key, token bigint not null, holder text not null, expires_at timestamptz not null)`,
  );
}

function checkInput(runId: number, holder: string, ttlMs: number): void {
  if (!Number.isSafeInteger(runId) || runId < 0) throw new LeaseError('LEASE_BAD_INPUT', `runId must be a non-negative integer, got ${runId}`);
  if (!holder) throw new LeaseError('LEASE_BAD_INPUT', 'holder must name the committer (e.g. host:pid)');
  if (!Number.isFinite(ttlMs) || ttlMs < 100) throw new LeaseError('LEASE_BAD_INPUT', `ttlMs must be at least 100 ms, got ${ttlMs}`);
}

/**
 * Takes the run's lease for `ttlMs` when nobody holds it or its holder's time is up, with the next
 * token; null while another holder's lease runs. A holder whose own lease expired gets a new
 * token too: whatever it wrote under the old one is fenced off like anyone's.
 */
export async function acquireCommitterLease(sql: Session, runId: number, holder: string, ttlMs: number): Promise<CommitterLease | null> {
  checkInput(runId, holder, ttlMs);
  const { rows } = await sql.query<{ token: number }>(
    `insert into committer_lease (run_id, token, holder, expires_at) values ($1, 1, $2, now() + $3::double precision * interval '1 millisecond')
     on conflict (run_id) do update set token = committer_lease.token + 1, holder = excluded.holder, expires_at = excluded.expires_at
     where committer_lease.expires_at <= now()
     returning token`,
    [runId, holder, ttlMs],
  );
  return rows[0] ? { runId, token: Number(rows[0].token), holder } : null;
}

/**
 * Extends the lease by `ttlMs` from now while its token is still the holder's; false once a newer
 * token took it (the holder must stop committing). A lease whose time ran out while nobody took it
 * is extended too: its token never changed, so the holder's fenced writes were never unsafe, and a
 * holder whose event loop or database round trip stalled past the TTL on a loaded machine (nobody
 * waiting to take over) keeps the run instead of deposing itself and exiting.
 */
export async function renewCommitterLease(sql: Session, lease: CommitterLease, ttlMs: number): Promise<boolean> {
  checkInput(lease.runId, lease.holder, ttlMs);
  const { rows } = await sql.query(
    `update committer_lease set expires_at = now() + $3::double precision * interval '1 millisecond' where run_id = $1 and token = $2 returning token`,
    [lease.runId, lease.token, ttlMs],
  );
  return rows.length === 1;
}

/** Ends a lease at once (a clean shutdown), so a successor need not wait for its expiry. */
export async function releaseCommitterLease(sql: Session, lease: CommitterLease): Promise<void> {
  await sql.query(`update committer_lease set expires_at = now() where run_id = $1 and token = $2`, [lease.runId, lease.token]);
}

/** The run's current token and holder, and whether its time is up; null before anyone held it. */
export async function committerLeaseOf(sql: Session, runId: number): Promise<(CommitterLease & { expired: boolean }) | null> {
  const { rows } = await sql.query<{ token: number; holder: string; expired: boolean }>(
    `select token, holder, expires_at <= now() as expired from committer_lease where run_id = $1`,
    [runId],
  );
  return rows[0] ? { runId, token: Number(rows[0].token), holder: rows[0].holder, expired: rows[0].expired } : null;
}

async function checkFence(tx: Session, lease: CommitterLease): Promise<void> {
  // FOR SHARE: fenced transactions of one holder run side by side; a takeover's update of this row waits for them.
  const { rows } = await tx.query<{ token: number; holder: string }>(`select token, holder from committer_lease where run_id = $1 for share`, [lease.runId]);
  const now = rows[0] ? Number(rows[0].token) : null;
  if (now !== lease.token)
    throw new LeaseError(
      'LEASE_FENCED',
      `committer ${lease.holder} (token ${lease.token}) was deposed: run ${lease.runId}'s lease has token ${now ?? 'none'}`,
      {
        details: rows[0] ? `held by ${rows[0].holder}` : 'no lease row: acquire the lease first',
      },
    );
}

/**
 * The same surface as `sql`, with every statement fenced by `lease`: each runs in a transaction
 * that first checks the token (a statement outside a transaction gets one of its own). A `Ledger`
 * built over it writes only while its committer holds the lease.
 */
export function fencedSql(sql: Sql, lease: CommitterLease): Sql {
  const transaction: Sql['transaction'] = (fn) =>
    sql.transaction(async (tx) => {
      await checkFence(tx, lease);
      return fn(tx);
    });
  return {
    query: (text, params) => transaction((tx) => tx.query(text, params)),
    exec: (text) => transaction((tx) => tx.exec(text)),
    transaction,
    close: () => sql.close(),
  };
}
