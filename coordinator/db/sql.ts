// The narrow database surface the ledger needs. PGlite implements it directly; a
// PostgreSQL pool (DATABASE_URL) can implement the same three methods.
import { PGlite } from '@electric-sql/pglite';
import { mkdirSync } from 'node:fs';
import { MIGRATIONS } from './migrations.ts';

export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(text: string): Promise<unknown>;
  transaction<T>(fn: (tx: Pick<Sql, 'query' | 'exec'>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openDatabase(opts: { dataDir?: string; databaseUrl?: string }): Promise<Sql> {
  if (opts.databaseUrl) {
    throw new Error(`DATABASE_URL is set (${opts.databaseUrl.replace(/\/\/[^@]*@/, '//***@')}), but the PostgreSQL driver arrives with the multi-coordinator work; unset it to use the embedded PGlite ledger`);
  }
  let db: PGlite;
  if (opts.dataDir) {
    mkdirSync(opts.dataDir, { recursive: true });
    db = new PGlite(opts.dataDir);
  } else {
    db = new PGlite(); // in memory: tests
  }
  await db.waitReady;
  const sql: Sql = {
    query: (text, params) => db.query(text, params) as never,
    exec: (text) => db.exec(text),
    transaction: (fn) => db.transaction((tx) => fn({ query: (t, p) => tx.query(t, p) as never, exec: (t) => tx.exec(t) })),
    close: () => db.close(),
  };
  await migrate(sql);
  return sql;
}

async function migrate(sql: Sql): Promise<void> {
  await sql.exec(`create table if not exists schema_migrations (version integer primary key, applied_at timestamptz not null default now())`);
  const { rows } = await sql.query<{ version: number }>(`select version from schema_migrations`);
  const done = new Set(rows.map((r) => r.version));
  for (let v = 0; v < MIGRATIONS.length; v++) {
    if (done.has(v)) continue;
    await sql.transaction(async (tx) => {
      await tx.exec(MIGRATIONS[v]);
      await tx.query(`insert into schema_migrations (version) values ($1)`, [v]);
    });
  }
}
