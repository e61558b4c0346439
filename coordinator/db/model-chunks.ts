// A run's model state (θ, the outer momentum, the coordinator's residual) stored as rows of
// at most MODEL_CHUNK_BYTES each in model_chunks, written and read one chunk per statement.
// One bytea of a whole tensor made each copy of it whole at once: the structured clone to the
// ledger thread, PGlite's hex text of the parameter (twice the bytes) and PostgreSQL's own
// buffers. gpt-base's θ and momentum (97.7 MiB each) in one insert ran the PGlite thread out
// of heap (issue 18). Per chunk, the largest transient is a few MiB whatever the model.
//
// Ledgers written before keep their state in model_state's bytea columns: they are read from
// there until the next commit writes chunks and clears those columns.
import type { Sql } from './sql-surface.ts';

/** 4 MiB: a few MiB of transients per statement; gpt-base's θ is 25 rows. */
export const MODEL_CHUNK_BYTES = 4 << 20;

export type ModelPart = 'params' | 'momentum' | 'residual';
type Runner = Pick<Sql, 'query'>;

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Writes `values` as part `part` of run `runId`'s state (null: removes the part). */
export async function writeModelPart(tx: Runner, runId: number, part: ModelPart, values: Float32Array | null, chunkBytes = MODEL_CHUNK_BYTES): Promise<void> {
  if (chunkBytes <= 0 || chunkBytes % 4 !== 0) throw new RangeError(`model chunk size ${chunkBytes} is not a positive multiple of 4 bytes`);
  const bytes = values ? bytesOf(values) : new Uint8Array(0);
  const chunks = Math.ceil(bytes.byteLength / chunkBytes);
  for (let i = 0; i < chunks; i++) {
    await tx.query(
      `insert into model_chunks (run_id, part, idx, bytes) values ($1, $2, $3, $4) on conflict (run_id, part, idx) do update set bytes = excluded.bytes`,
      [runId, part, i, bytes.subarray(i * chunkBytes, Math.min(bytes.byteLength, (i + 1) * chunkBytes))],
    );
  }
  await tx.query(`delete from model_chunks where run_id = $1 and part = $2 and idx >= $3`, [runId, part, chunks]);
}

/**
 * Reads part `part` of run `runId`'s state, chunk by chunk, into one array of `length` values;
 * null when the part has no rows. A missing or mis-sized chunk is an error that names it.
 */
export async function readModelPart(db: Runner, runId: number, part: ModelPart, length: number): Promise<Float32Array | null> {
  const { rows } = await db.query<{ idx: number; bytes: number }>(
    `select idx, length(bytes) as bytes from model_chunks where run_id = $1 and part = $2 order by idx`,
    [runId, part],
  );
  if (rows.length === 0) return null;
  const out = new Float32Array(length);
  const view = new Uint8Array(out.buffer);
  let at = 0;
  for (const [i, r] of rows.entries()) {
    if (Number(r.idx) !== i) throw new Error(`run ${runId}'s ${part}: chunk ${i} is missing from the ledger (next stored is ${r.idx})`);
    if (at + Number(r.bytes) > view.byteLength)
      throw new Error(`run ${runId}'s ${part}: the stored chunks hold more than ${length} float32 values (chunk ${i} ends at byte ${at + Number(r.bytes)})`);
    const { rows: got } = await db.query<{ bytes: Uint8Array }>(`select bytes from model_chunks where run_id = $1 and part = $2 and idx = $3`, [
      runId,
      part,
      i,
    ]);
    view.set(got[0].bytes, at);
    at += got[0].bytes.byteLength;
  }
  if (at !== view.byteLength) throw new Error(`run ${runId}'s ${part}: the stored chunks hold ${at} bytes, the model needs ${view.byteLength}`);
  return out;
}
