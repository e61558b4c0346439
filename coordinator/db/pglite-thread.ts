// The Sql surface over PGlite running on its own worker thread (coordinator/db/pglite-worker.mjs).
// PGlite executes statements synchronously on the thread that calls it; on the event loop a
// round's ledger work (the account push after a commit reads tens of thousands of rows) held
// every report waiting behind it (`npm run load`). Same statements, same transactions, same
// errors (message and PostgreSQL fields such as `code`); values cross the thread boundary by
// structured clone (numbers, strings, Uint8Array, Date, JSON values).
import { Worker } from 'node:worker_threads';
import type { Sql } from './sql.ts';

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
  const worker = new Worker(new URL('./pglite-worker.mjs', import.meta.url), { workerData: { dataDir } });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let next = 0;
  let nextTx = 0;
  let dead: Error | null = null;
  worker.on('message', (m: Reply) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (pending.size === 0) worker.unref();
    if (!p) return;
    if (m.error) p.reject(Object.assign(new Error(m.error.message), { name: m.error.name }, m.error.fields));
    else p.resolve(m.result);
  });
  const fail = (e: Error) => {
    dead ??= e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on('error', (e) => fail(new Error(`ledger thread failed: ${e.message}`, { cause: e })));
  worker.on('exit', (code) => fail(new Error(`ledger thread exited (code ${code})`)));
  const call = <T>(req: Request): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      // The thread keeps the process alive only while a request waits on it (as in-process PGlite did).
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, ...req });
    });
  };
  try {
    await call({ op: 'open' });
  } catch (e) {
    await worker.terminate();
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
        await worker.terminate();
      }
    },
  };
}
