// The worker's persistent store for per-adapter kernel tuning (kernels/matmul/autotune.ts):
// its own small IndexedDB database, so the app's schema (web/src/client/storage.ts) stays apart.
// Where IndexedDB is unavailable the tuning is kept for this worker's life only (returns undefined).
import { openDB } from 'idb';
import type { MatmulTuneStore } from '../../kernels/index.ts';

export async function openTuneStore(factory: IDBFactory | undefined = globalThis.indexedDB): Promise<MatmulTuneStore | undefined> {
  if (!factory) return undefined;
  try {
    const db = await openDB('idlegrad-kernels', 1, { upgrade: (d) => void d.createObjectStore('tune') });
    return {
      get: async (key) => (await db.get('tune', key)) as string | undefined,
      set: async (key, value) => void (await db.put('tune', value, key)),
    };
  } catch {
    return undefined;
  }
}
