import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from 'viem';
import { decodeSnapshot, MAX_SYNC_UPDATES } from '../../shared/wire/index.ts';
import type { ModelState } from '../db/index.ts';
import { PublishedObjects, SNAPSHOT_HASH_SLICE } from './published.ts';

const modelAt = (round: number): ModelState => ({
  round,
  modelHash: sha256(new Uint8Array([round])),
  params: new Float32Array([round, 1, 2]),
  momentum: new Float32Array([0, 0, round]),
});

/** A ledger of updates: rounds 0…round − 1, round 2 with none (nothing accepted); counts reads. */
function source(round: number) {
  const reads: number[] = [];
  const frames = new Map(Array.from({ length: round }, (_, r) => [r, r === 2 ? null : new Uint8Array(10 + r).fill(r)]));
  const state = { model: modelAt(round) };
  const store = new PublishedObjects({
    run: 7,
    update: async (r) => (reads.push(r), frames.get(r) ?? null),
    model: () => state.model,
  });
  return { store, reads, frames, state };
}

test('the sync index lists every update since `from` by content address and size, and the snapshot', async () => {
  const { store, frames } = source(4);
  const index = await store.index(1);
  assert.equal(index.run, 7);
  assert.equal(index.round, 4);
  assert.equal(index.modelHash, modelAt(4).modelHash);
  assert.deepEqual(index.updates, [
    { round: 1, hash: sha256(frames.get(1)!), bytes: 11 },
    { round: 2, hash: null, bytes: 0 },
    { round: 3, hash: sha256(frames.get(3)!), bytes: 13 },
  ]);
  const body = store.snapshotByHash(index.snapshot.hash)!;
  assert.equal(body.byteLength, index.snapshot.bytes);
  assert.equal(sha256(body), index.snapshot.hash);
  assert.deepEqual(decodeSnapshot(body, 3).params, modelAt(4).params);
  // From the current round: nothing to apply; from the future or too far back: the snapshot only.
  assert.deepEqual((await store.index(4)).updates, []);
  assert.equal((await store.index(5)).updates, null);
});

test('each object is hashed once and the snapshot encoded once per model state; an old snapshot ages out', async () => {
  const { store, reads, state } = source(4);
  await store.index(0);
  await store.index(0);
  assert.deepEqual(reads, [0, 1, 2, 3], 'the ledger is read once a round, then the address is remembered');
  const first = store.snapshot();
  assert.equal(store.snapshot(), first, 'the same encoding for the same model');
  state.model = modelAt(5);
  const second = store.snapshot();
  assert.notEqual(second.hash, first.hash);
  assert.ok(store.snapshotByHash(first.hash), 'the previous snapshot is still served');
  state.model = modelAt(6);
  store.snapshot();
  assert.equal(store.snapshotByHash(first.hash), null, 'two rounds later it is gone');
});

test('an update is served only under its own address; noteUpdate records a commit without a ledger read', async () => {
  const { store, reads, frames, state } = source(4);
  const h1 = sha256(frames.get(1)!);
  assert.deepEqual(await store.update(1, h1), frames.get(1));
  assert.equal(await store.update(1, sha256(frames.get(3)!)), null, "another round's address");
  assert.equal(await store.update(2, h1), null, 'a round without an update');
  const committed = new Uint8Array(20).fill(9);
  frames.set(4, committed);
  assert.deepEqual(store.noteUpdate(4, committed), { hash: sha256(committed), bytes: 20 });
  state.model = modelAt(5);
  reads.length = 0;
  assert.deepEqual((await store.index(4)).updates, [{ round: 4, hash: sha256(committed), bytes: 20 }]);
  assert.deepEqual(reads, [], 'the committed round is known');
});

test(`a page more than ${MAX_SYNC_UPDATES} rounds behind gets the snapshot only`, async () => {
  const { store } = source(MAX_SYNC_UPDATES + 2);
  assert.equal((await store.index(1)).updates, null);
  assert.equal((await store.index(2)).updates?.length, MAX_SYNC_UPDATES);
});

test('prepare builds the snapshot ahead, pausing between hash slices: the same bytes and address as snapshot() builds, then kept', async () => {
  // Large enough for three slices of the hash.
  const n = Math.ceil((2.5 * SNAPSHOT_HASH_SLICE) / 8);
  const big: ModelState = { round: 3, modelHash: sha256(new Uint8Array([3])), params: new Float32Array(n).fill(0.5), momentum: new Float32Array(n).fill(-1) };
  const state = { model: big };
  const ahead = new PublishedObjects({ run: 7, update: async () => null, model: () => state.model });
  let pauses = 0;
  await ahead.prepare(async () => void pauses++);
  const fresh = new PublishedObjects({ run: 7, update: async () => null, model: () => state.model }).snapshot();
  const prepared = ahead.snapshot();
  assert.ok(pauses >= 2, `${pauses} pauses over ${prepared.bytes} bytes`);
  assert.equal(prepared.hash, fresh.hash);
  assert.equal(prepared.hash, sha256(prepared.body));
  assert.deepEqual(prepared.body, fresh.body);
  // Prepared again for the same model: nothing is rebuilt.
  await ahead.prepare(async () => assert.fail('already built'));
  assert.equal(ahead.snapshot(), prepared);
});
