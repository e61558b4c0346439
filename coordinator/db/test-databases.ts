// The ledger backends a test suite runs against: PGlite in memory always, and PostgreSQL
// when IDLEGRAD_TEST_DATABASE_URL names a server (.ci/run starts one; locally
// `.ci/postgres.sh start DIR` prints a URL). Each open() gets a fresh database of its own,
// dropped again on close(), so suites can run repeatedly and side by side.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Sql } from './sql.ts';

export interface LedgerBackend {
  name: 'PGlite' | 'PostgreSQL';
  /** false, or why this backend is skipped here. */
  skip: string | false;
  /** A migrated (up to `migrateTo` migrations, default all), empty ledger database; close() drops it. */
  open(opts?: { migrateTo?: number }): Promise<Sql>;
  /** A fresh, empty PostgreSQL database's URL (and how to drop it), for child processes. */
  createDatabase(): Promise<{ url: string; drop(): Promise<void> }>;
}

const serverUrl = process.env.IDLEGRAD_TEST_DATABASE_URL || undefined;

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (!serverUrl) throw new Error('IDLEGRAD_TEST_DATABASE_URL is not set: no PostgreSQL server for this test');
  const name = `idlegrad_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

export const LEDGER_BACKENDS: LedgerBackend[] = [
  {
    name: 'PGlite',
    skip: false,
    open: (opts = {}) => openDatabase(opts),
    createDatabase: () => Promise.reject(new Error('PGlite has no server database')),
  },
  {
    name: 'PostgreSQL',
    skip: serverUrl ? false : 'IDLEGRAD_TEST_DATABASE_URL is not set (start a server with .ci/postgres.sh)',
    async open(opts = {}) {
      const db = await createTestDatabase();
      const sql = await openDatabase({ ...opts, databaseUrl: db.url });
      return { ...sql, close: async () => (await sql.close(), await db.drop()) };
    },
    createDatabase: createTestDatabase,
  },
];

/**
 * A run row and its model state as ledgers wrote them before model_chunks (the state in
 * model_state's bytea columns): for tests that build a ledger at an older migration.
 */
export async function insertInlineRun(
  sql: Pick<Sql, 'query'>,
  spec: { id: number; name: string },
  state: { round: number; modelHash: string; params: Float32Array; momentum: Float32Array; residual?: Float32Array },
): Promise<void> {
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  await sql.query(`insert into runs (id, name, spec) values ($1, $2, $3)`, [spec.id, spec.name, JSON.stringify(spec)]);
  await sql.query(`insert into model_state (run_id, round, model_hash, params, momentum) values ($1, $2, $3, $4, $5)`, [
    spec.id,
    state.round,
    state.modelHash,
    bytes(state.params),
    bytes(state.momentum),
  ]);
  // The residual column came with a later migration (issue 16).
  if (state.residual) await sql.query(`update model_state set residual = $2 where run_id = $1`, [spec.id, bytes(state.residual)]);
}
