// The narrow database surface the ledger needs. PGlite (embedded, the default) and a
// PostgreSQL server (DATABASE_URL, through a `pg` pool) implement it alike, and both run
// the same migrations. PGlite runs on a thread of its own (coordinator/db/pglite-thread.ts).
import pg from 'pg';
import { MIGRATIONS } from './migrations.ts';
import { openPgliteThread } from './pglite-thread.ts';
import type { Sql } from './sql-surface.ts';

export type { Sql } from './sql-surface.ts';

/** DATABASE_URL without its password, for messages and logs. */
export const redactUrl = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

/** `migrateTo`: apply only the first n migrations (a test that builds an older ledger, then migrate()s it). */
export async function openDatabase(opts: { dataDir?: string; databaseUrl?: string; migrateTo?: number }): Promise<Sql> {
  const sql = opts.databaseUrl ? await openPostgres(opts.databaseUrl) : await openPgliteThread(opts.dataDir);
  try {
    await migrate(sql, opts.migrateTo);
  } catch (e) {
    await sql.close();
    throw e;
  }
  return sql;
}

// PGlite returns int8 (bigserial ids, bigint columns) as numbers; node-postgres as strings.
// The ledger's int8 values are ids and millisecond times, well inside 2^53: parse them alike.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

async function openPostgres(databaseUrl: string): Promise<Sql> {
  const pool = new pg.Pool({ connectionString: databaseUrl, types, max: 8 });
  // An idle client whose server went away must not crash the process: the next query fails instead.
  pool.on('error', (e) => console.error(`[postgres] idle connection lost: ${e.message}`));
  try {
    await pool.query('select 1');
  } catch (e) {
    await pool.end();
    throw new Error(`DATABASE_URL (${redactUrl(databaseUrl)}): cannot connect to PostgreSQL: ${(e as Error).message}`, { cause: e });
  }
  return {
    query: (text, params) => pool.query(text, params) as never,
    exec: (text) => pool.query(text),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const out = await fn({ query: (t, p) => client.query(t, p) as never, exec: (t) => client.query(t) });
        await client.query('commit');
        return out;
      } catch (e) {
        await client.query('rollback').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

// Any fixed number: two coordinators starting on one PostgreSQL migrate one after the other.
const MIGRATION_LOCK = 0x1d1e_0001;

/** Applies the migrations not yet recorded in schema_migrations, up to the first `upTo`, in one transaction. */
export async function migrate(sql: Sql, upTo = MIGRATIONS.length): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock($1)`, [MIGRATION_LOCK]);
    await tx.exec(`create table if not exists schema_migrations (version integer primary key, applied_at timestamptz not null default now())`);
    const { rows } = await tx.query<{ version: number }>(`select version from schema_migrations`);
    const done = new Set(rows.map((r) => r.version));
    for (let v = 0; v < upTo; v++) {
      if (done.has(v)) continue;
      await tx.exec(MIGRATIONS[v]);
      await tx.query(`insert into schema_migrations (version) values ($1)`, [v]);
    }
  });
}
