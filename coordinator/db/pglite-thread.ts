// The Sql surface over PGlite running on its own worker thread (coordinator/db/pglite-worker.mjs).
// PGlite executes statements synchronously on the thread that calls it; on the event loop a
// round's ledger work (the account push after a commit reads tens of thousands of rows) held
// every report waiting behind it (`npm run load`). Same statements, same transactions, same
// errors (message and PostgreSQL fields such as `code`); values cross the thread boundary by
// structured clone (numbers, strings, Uint8Array, Date, JSON values).
import { Worker } from 'node:worker_threads';
import type { Sql } from './sql-surface.ts';
import { WorkerCalls } from '../worker-calls.ts';

interface Reply {
  id: number;
  result?: unknown;
  error?: { message: string; name: string; fields: Record<string, unknown> };
}

type Request =
  | { op: 'open' | 'close' }
  | { op: 'query'; text: string; params?: unknown[]; tx?: number }
  | { op: 'exec'; text: string; tx?: number }
  | { op: 'begin'; tx: number }
  | { op: 'end'; tx: number; commit: boolean };

/** Opens PGlite on a worker thread: in `dataDir`, or in memory without one. */
export async function openPgliteThread(dataDir?: string): Promise<Sql> {
  const calls = new WorkerCalls<Reply>(new Worker(new URL('./pglite-worker.mjs', import.meta.url), { workerData: { dataDir } }));
  let nextTx = 0;
  const call = async <T>(req: Request): Promise<T> => {
    const m = await calls.call(req).catch((e: Error) => {
      throw new Error(`ledger thread: ${e.message}`, { cause: e });
    });
    if (m.error) throw Object.assign(new Error(m.error.message), { name: m.error.name }, m.error.fields);
    return m.result as T;
  };
  try {
    await call({ op: 'open' });
  } catch (e) {
    await calls.stop();
    throw e;
  }
  const runner = (tx?: number): Pick<Sql, 'query' | 'exec'> => ({
    query: (text, params) => call({ op: 'query', text, params, tx }),
    exec: (text) => call({ op: 'exec', text, tx }),
  });
  return {
    ...runner(),
    async transaction(fn) {
      const tx = nextTx++;
      await call({ op: 'begin', tx });
      let out;
      try {
        out = await fn(runner(tx));
      } catch (e) {
        await call({ op: 'end', tx, commit: false }).catch(() => undefined);
        throw e;
      }
      await call({ op: 'end', tx, commit: true });
      return out;
    },
    async close() {
      try {
        await call({ op: 'close' });
      } finally {
        await calls.stop();
      }
    },
  };
}
