// The narrow database surface the ledger needs, implemented by PGlite on its thread
// (pglite-thread.ts) and by a PostgreSQL pool (sql.ts) alike. Its own module so that the
// implementations and their opener (sql.ts) need not import each other.
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(text: string): Promise<unknown>;
  transaction<T>(fn: (tx: Pick<Sql, 'query' | 'exec'>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
