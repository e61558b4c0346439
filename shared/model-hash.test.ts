import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hashModel, modelHashSchemeOf, modelLeafHashes, MODEL_HASH_CHUNK_FLOATS } from './model-hash.ts';
import { hashParams } from './model.ts';
import { DEFAULT_GPT_SMALL_RUN } from './config.ts';
import { decodeFrame, encodeUpdate, frameLimits, toDense } from './codec.ts';
import { createRng, gaussian } from './rng.ts';

function randomParams(n: number, seed = 3): Float32Array {
  const rand = createRng(seed);
  const params = new Float32Array(n);
  for (let i = 0; i < n; i++) params[i] = gaussian(rand);
  return params;
}

/** The scheme written out with node:crypto, byte by byte, as a reader of the comment would. */
function referenceRoot(params: Float32Array): string {
  const bytes = Buffer.from(params.buffer, params.byteOffset, params.byteLength);
  const leaves: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += MODEL_HASH_CHUNK_FLOATS * 4) {
    leaves.push(
      createHash('sha256')
        .update(bytes.subarray(at, at + MODEL_HASH_CHUNK_FLOATS * 4))
        .digest(),
    );
  }
  const header = Buffer.alloc(8);
  header.writeUInt32BE(MODEL_HASH_CHUNK_FLOATS, 0);
  header.writeUInt32BE(params.length, 4);
  return `0x${createHash('sha256')
    .update(Buffer.concat([header, ...leaves]))
    .digest('hex')}`;
}

test('sha256-chunks is the two-level hash its comment describes, at sizes that are not chunk multiples', async () => {
  for (const n of [1, 1000, MODEL_HASH_CHUNK_FLOATS, 2 * MODEL_HASH_CHUNK_FLOATS + 5]) {
    const params = randomParams(n);
    assert.equal(await hashModel(params, 'sha256-chunks'), referenceRoot(params), `${n} floats`);
  }
  // A view into a larger buffer hashes its own floats only.
  const big = randomParams(MODEL_HASH_CHUNK_FLOATS + 10);
  const view = big.subarray(7, MODEL_HASH_CHUNK_FLOATS + 9);
  assert.equal(await hashModel(view, 'sha256-chunks'), referenceRoot(view.slice()));
});

test('one changed float changes its own leaf and the root; the layout is part of the root', async () => {
  const params = randomParams(2 * MODEL_HASH_CHUNK_FLOATS + 5);
  const before = await modelLeafHashes(params);
  const root = await hashModel(params, 'sha256-chunks');
  params[MODEL_HASH_CHUNK_FLOATS + 3] = Math.fround(params[MODEL_HASH_CHUNK_FLOATS + 3] + 1e-6);
  const after = await modelLeafHashes(params);
  assert.deepEqual(
    after.map((leaf, i) => Buffer.compare(leaf, before[i]) !== 0),
    [false, true, false],
  );
  assert.notEqual(await hashModel(params, 'sha256-chunks'), root);
  // Appending a zero float leaves the last chunk's bytes a prefix but changes the count in the header.
  const longer = new Float32Array(params.length + 1);
  longer.set(params);
  assert.notEqual(await hashModel(longer, 'sha256-chunks'), await hashModel(params, 'sha256-chunks'));
});

test('keccak256 is the old whole-model hash, and a spec without a scheme uses it', async () => {
  const params = randomParams(5000);
  assert.equal(await hashModel(params, 'keccak256'), hashParams(params));
  assert.equal(modelHashSchemeOf({}), 'keccak256');
  assert.equal(modelHashSchemeOf({ modelHashScheme: 'sha256-chunks' }), 'sha256-chunks');
});

test('a gpt-small update touches every leaf: rehashing only changed chunks would save nothing', () => {
  // Why the hash is not incremental (model-hash.ts): chunked top-k keeps values in every codec chunk.
  const { codec } = DEFAULT_GPT_SMALL_RUN;
  const v = randomParams(MODEL_HASH_CHUNK_FLOATS + 3000, 9);
  const args = { paramTableHash: `0x${'00'.repeat(32)}` as const, run: 1, round: 0, samples: 1 };
  const { bytes } = encodeUpdate(v, codec, args);
  const limits = frameLimits({ ...args, paramCount: v.length, codec, maxSamples: 1 });
  const dense = toDense(decodeFrame(bytes, limits));
  for (let at = 0; at < dense.length; at += MODEL_HASH_CHUNK_FLOATS) {
    assert.ok(
      dense.subarray(at, at + MODEL_HASH_CHUNK_FLOATS).some((x) => x !== 0),
      `leaf ${at / MODEL_HASH_CHUNK_FLOATS} unchanged`,
    );
  }
});
