import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN, runSpecOf } from '../../shared/config.ts';
import { encodeAggregate } from '../../shared/codec.ts';
import { createRng, gaussian } from '../../shared/rng.ts';
import { checkAggregate, inSharedMemory } from './upload-check.ts';
import { UploadThread } from './upload-thread.ts';

const run = runSpecOf(3, { ...DEFAULT_RUN, sizes: [30, 20, 5] }, { name: 'mnist', trainCount: 10, testCount: 10, features: 30, classes: 5 });

function aggregateBytes(seed: number): Uint8Array {
  const r = createRng(seed);
  const v = new Float32Array(run.paramCount);
  for (let i = 0; i < v.length; i++) if (r() < 0.2) v[i] = gaussian(r);
  return encodeAggregate(v, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 4, samples: 64 });
}

test('a checked frame moved into shared memory keeps its header, indices and values', () => {
  const { frame } = checkAggregate(run, 4, aggregateBytes(1));
  const shared = inSharedMemory(frame);
  assert.ok(shared.values.buffer instanceof SharedArrayBuffer && shared.indices.buffer === shared.values.buffer);
  assert.ok(frame.values.length > 0);
  assert.deepEqual(shared.header, frame.header);
  assert.deepEqual([...shared.indices], [...frame.indices]);
  assert.deepEqual([...shared.values], [...frame.values]);
});

test('the upload thread returns the frame in shared memory, equal to the check in place, so it reaches the combine threads uncopied', async (t) => {
  const uploads = new UploadThread(run);
  t.after(() => uploads.stop());
  const bytes = aggregateBytes(2);
  const here = checkAggregate(run, 4, bytes);
  const there = await uploads.check(4, bytes);
  assert.equal(there.hash, here.hash);
  assert.ok(there.frame.values.buffer instanceof SharedArrayBuffer, 'values in shared memory');
  assert.ok(there.frame.indices.buffer instanceof SharedArrayBuffer, 'indices in shared memory');
  assert.deepEqual(there.frame.header, here.frame.header);
  assert.deepEqual([...there.frame.indices], [...here.frame.indices]);
  assert.deepEqual([...there.frame.values], [...here.frame.values]);
});
