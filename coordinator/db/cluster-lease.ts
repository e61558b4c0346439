// The cluster's coordination statements (coordinator/cluster.ts), on the PostgreSQL session
// that holds or awaits leadership: a session-level advisory lock, the leader's URL, and the
// contract addresses every coordinator of the database shares. Coordination state, not ledger
// data: its tables are created here so the ledger migrations stay the same for PGlite and
// PostgreSQL.
import type pg from 'pg';

/** Any fixed number, shared by every coordinator of one database. */
export const LEADER_LOCK = 0x1d1e_0002;

type Session = Pick<pg.Client, 'query'>;

export async function ensureClusterTables(c: Session): Promise<void> {
  await c.query(`select pg_advisory_lock($1)`, [LEADER_LOCK + 1]);
  try {
    await c.query(
      `create table if not exists cluster_leader (id integer primary key check (id = 1), url text not null, pid integer not null, since timestamptz not null default now())`,
    );
    await c.query(`create table if not exists cluster_contracts (chain_id bigint primary key, addresses jsonb not null)`);
  } finally {
    await c.query(`select pg_advisory_unlock($1)`, [LEADER_LOCK + 1]);
  }
}

/** True when this session now holds leadership (it keeps it until the session ends). */
export async function tryLeaderLock(c: Session): Promise<boolean> {
  return (await c.query<{ ok: boolean }>(`select pg_try_advisory_lock($1) as ok`, [LEADER_LOCK])).rows[0].ok;
}

/**
 * True while this session holds the leader lock (a leader's /readyz `lease` check). A bigint
 * advisory key below 2^32 shows in pg_locks as classid 0, objid = the key, objsubid 1.
 */
export async function holdsLeaderLock(c: Session): Promise<boolean> {
  const { rows } = await c.query<{ held: boolean }>(
    `select exists (select 1 from pg_locks where locktype = 'advisory' and granted and pid = pg_backend_pid() and classid = 0 and objid = $1 and objsubid = 1) as held`,
    [LEADER_LOCK],
  );
  return rows[0].held;
}

/** The contract addresses recorded for the newest chain, as the platform's contracts file holds them. */
export async function clusterContracts(c: Session): Promise<unknown | null> {
  const { rows } = await c.query<{ addresses: unknown }>(
    `select addresses from cluster_contracts where chain_id = (select max(chain_id) from cluster_contracts)`,
  );
  return rows[0]?.addresses ?? null;
}

export async function saveClusterContracts(c: Session, chainId: number, addressesJson: string): Promise<void> {
  await c.query(`insert into cluster_contracts (chain_id, addresses) values ($1, $2) on conflict (chain_id) do update set addresses = excluded.addresses`, [
    chainId,
    addressesJson,
  ]);
}

export async function registerLeader(c: Session, url: string, pid: number): Promise<void> {
  await c.query(
    `insert into cluster_leader (id, url, pid) values (1, $1, $2) on conflict (id) do update set url = excluded.url, pid = excluded.pid, since = now()`,
    [url, pid],
  );
}

/** The leader's volunteer-facing URL, or null before any leader registered. */
export async function leaderUrl(c: Session): Promise<string | null> {
  const { rows } = await c.query<{ url: string }>(`select url from cluster_leader where id = 1`);
  return rows[0]?.url ?? null;
}
