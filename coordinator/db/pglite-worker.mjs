// The embedded ledger (PGlite) on its own thread: PGlite runs PostgreSQL in WebAssembly
// synchronously on whatever thread calls it, so on the coordinator's event loop every
// statement (and the decoding of its result) held up the WebSocket traffic. The other half,
// and the protocol, are in coordinator/db/pglite-thread.ts. Plain JavaScript: worker threads
// do not inherit the tsx loader.
//
// Requests, answered in order by id: open, query, exec, begin, end (commit or roll back the
// open transaction), close. One transaction at a time, as PGlite itself allows; statements
// outside it wait for it (PGlite's own locks).
import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';

/** What a PostgreSQL error carries besides its message (PGlite's DatabaseError fields). */
const ERROR_FIELDS = ['code', 'detail', 'hint', 'severity', 'constraint', 'table', 'column', 'schema', 'position', 'where'];
const errorOf = (e) => {
  const out = { message: e instanceof Error ? e.message : String(e), name: e?.name ?? 'Error', fields: {} };
  for (const k of ERROR_FIELDS) if (e && e[k] !== undefined) out.fields[k] = e[k];
  return out;
};

// bytea (type oid 17) in and out through Node's native hex codec. PGlite's own goes through an
// array of one two-character string per byte (Array.from(bytes).map(…).join('')): seconds and
// hundreds of MiB of heap per few MiB of model state, and a 98 MiB value ran this thread out of
// heap (issue 18). The text on the wire is the same '\x…' hex.
const BYTEA = 17;
const byteaCodecs = {
  serializers: {
    [BYTEA]: (v) => {
      if (!(v instanceof Uint8Array)) throw new Error('Invalid input for bytea type');
      return '\\x' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    },
  },
  // A copy into a buffer of its own: a pooled Buffer's whole pool would cross to the ledger.
  parsers: { [BYTEA]: (text) => new Uint8Array(Buffer.from(text.slice(2), 'hex')) },
};

let db;
/** Open transactions by id: each one's statement runner, the way to end it, and its outcome. */
const open = new Map();

function runner(m) {
  if (m.tx === undefined) return db;
  const t = open.get(m.tx);
  if (!t) throw new Error(`transaction ${m.tx} is not open`);
  return t.tx;
}

async function handle(m) {
  switch (m.op) {
    case 'open': {
      if (workerData.dataDir) mkdirSync(workerData.dataDir, { recursive: true });
      db = workerData.dataDir ? new PGlite(workerData.dataDir, byteaCodecs) : new PGlite(byteaCodecs);
      await db.waitReady;
      return null;
    }
    case 'query': {
      const r = await runner(m).query(m.text, m.params);
      return { rows: r.rows };
    }
    case 'exec':
      await runner(m).exec(m.text);
      return null;
    case 'begin':
      // PGlite runs one transaction at a time and holds other statements until it ends.
      return new Promise((begun, failed) => {
        const done = db.transaction(
          (tx) =>
            new Promise((commit, rollback) => {
              open.set(m.tx, { tx, commit, rollback, done });
              begun(null);
            }),
        );
        done.catch(failed);
      });
    case 'end': {
      const t = open.get(m.tx);
      if (!t) throw new Error(`transaction ${m.tx} is not open`);
      open.delete(m.tx);
      if (m.commit) {
        t.commit();
        await t.done;
      } else {
        t.rollback(new Error('rolled back'));
        await t.done.catch(() => undefined);
      }
      return null;
    }
    case 'close':
      await db?.close();
      return null;
    default:
      throw new Error(`unknown request ${m.op}`);
  }
}

parentPort.on('message', (m) => {
  handle(m).then(
    (result) => parentPort.postMessage({ id: m.id, result }),
    (e) => parentPort.postMessage({ id: m.id, error: errorOf(e) }),
  );
});
