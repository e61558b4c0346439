import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { encodeAggregate } from '../../../shared/codec.ts';
import { DEFAULT_RUN, runSpecOf } from '../../../shared/config.ts';
import { initParams, mlpSpec } from '../../../shared/model.ts';
import { runModelHash } from '../../../shared/model-hash.ts';
import { applyOuterStep } from '../../../shared/outer.ts';
import { sha256, toBytes } from 'viem';
import type { Snapshot, SyncIndex } from '../../../shared/wire/index.ts';
import { ModelSync } from './local-model.ts';
import { applyGlobalUpdate, type LocalModel } from '../../../shared/round.ts';
import type { ModelRecord } from './storage.ts';

const run = runSpecOf(3, { ...DEFAULT_RUN, sizes: [12, 6, 4] }, { name: 'mnist', trainCount: 10, testCount: 10, features: 12, classes: 4 });

function gFor(round: number): Float32Array {
  const g = new Float32Array(run.paramCount);
  for (let i = 0; i < g.length; i += 3) g[i] = Math.sin(round + i) * 0.01;
  return g;
}
const updateFrame = (round: number) =>
  encodeAggregate(gFor(round), run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round, samples: 64 });

/** The coordinator's side: θ_0 and every later θ_r with its momentum. */
async function history(rounds: number): Promise<LocalModel[]> {
  const params = initParams(mlpSpec(run.sizes), run.seed);
  const momentum = new Float32Array(run.paramCount);
  const out: LocalModel[] = [
    {
      run: run.id,
      paramTableHash: run.paramTableHash,
      round: 0,
      modelHash: await runModelHash(run, params),
      params: params.slice(),
      momentum: momentum.slice(),
    },
  ];
  for (let r = 0; r < rounds; r++) {
    applyOuterStep(params, momentum, gFor(r), run.outer, r);
    out.push({ ...out[0], round: r + 1, modelHash: await runModelHash(run, params), params: params.slice(), momentum: momentum.slice() });
  }
  return out;
}

/** A fake coordinator at the history's last round, serving the snapshot of round `snapshotAt`: the sync index, updates and snapshot by content address. */
function fakes(h: LocalModel[], snapshotAt: number, o: { snapshotBytes?: number } = {}) {
  const calls = { updates: [] as number[], snapshots: 0, indexes: [] as number[] };
  const stored = new Map<number, ModelRecord>();
  const logs: string[] = [];
  const snapshotHash = sha256(toBytes(`snapshot ${snapshotAt}`));
  const sync = new ModelSync({
    api: {
      syncIndex: async (_run, from): Promise<SyncIndex> => {
        calls.indexes.push(from);
        const head = h[h.length - 1].round;
        const updates = Array.from({ length: Math.max(0, head - from) }, (_, i) => {
          const bytes = updateFrame(from + i);
          return { round: from + i, hash: sha256(bytes), bytes: bytes.byteLength };
        });
        return { run: run.id, round: head, modelHash: h[head].modelHash, updates, snapshot: { hash: snapshotHash, bytes: o.snapshotBytes ?? 1_000_000 } };
      },
      updateByHash: async (_run, round, hash) => {
        calls.updates.push(round);
        const bytes = updateFrame(round);
        assert.equal(hash, sha256(bytes), `round ${round} fetched by its content address`);
        return bytes;
      },
      snapshotByHash: async (_run, hash): Promise<Snapshot> => {
        calls.snapshots++;
        assert.equal(hash, snapshotHash);
        const m = h[snapshotAt];
        return { round: m.round, modelHash: m.modelHash, params: m.params.slice(), momentum: m.momentum.slice() };
      },
    },
    storage: { getModel: async (r) => stored.get(r), putModel: async (m) => void stored.set(m.run, m) },
    log: (level, text) => logs.push(`${level}: ${text}`),
  });
  return { sync, calls, stored, logs };
}

test('applyGlobalUpdate reproduces the coordinator hash chain', async () => {
  const h = await history(3);
  let m = h[0];
  for (let r = 0; r < 3; r++) m = await applyGlobalUpdate(m, updateFrame(r), run);
  assert.equal(m.round, 3);
  assert.equal(m.modelHash, h[3].modelHash);
  assert.equal(h[0].round, 0, 'input untouched');
});

test('applyGlobalUpdate refuses an update frame for another round', async () => {
  const h = await history(1);
  await assert.rejects(() => applyGlobalUpdate(h[0], updateFrame(1), run), /round 1, expected round 0/);
});

test('ensure: snapshot on a cold start, then committed updates keep the hash chain', async () => {
  const h = await history(3);
  const { sync, calls, stored } = fakes(h, 1);
  await sync.setRun(run);
  const m1 = await sync.ensure(1, h[1].modelHash);
  assert.equal(m1.modelHash, h[1].modelHash);
  assert.equal(calls.snapshots, 1);
  await sync.committed(1, h[2].modelHash);
  assert.equal(sync.current?.round, 2);
  assert.equal(sync.current?.modelHash, h[2].modelHash);
  assert.equal(stored.get(run.id)?.modelHash, h[2].modelHash);
  // Already there: no network.
  await sync.ensure(2, h[2].modelHash);
  assert.deepEqual(calls.updates, [1]);
});

test('ensure: a cached model catches up with updates instead of a snapshot', async () => {
  const h = await history(4);
  const { sync, calls } = fakes(h, 1);
  await sync.setRun(run);
  await sync.ensure(1, h[1].modelHash);
  assert.equal(calls.snapshots, 1);
  await sync.ensure(4, h[4].modelHash);
  assert.deepEqual(calls.updates, [1, 2, 3]);
  assert.equal(calls.snapshots, 1);
  assert.equal(sync.current?.modelHash, h[4].modelHash);
});

test('ensure: a returning page takes the snapshot when it is fewer bytes than the updates', async () => {
  const h = await history(4);
  const updateBytes = [1, 2, 3].reduce((s, r) => s + updateFrame(r).byteLength, 0);
  // The same gap twice: the snapshot one byte below, then one byte above, the updates' total.
  for (const [snapshotBytes, path] of [
    [updateBytes - 1, 'snapshot'],
    [updateBytes + 1, 'updates'],
  ] as const) {
    const { sync, calls, stored, logs } = fakes(h, 4, { snapshotBytes });
    stored.set(run.id, { ...h[1], savedAt: 0 });
    await sync.setRun(run);
    await sync.ensure(4, h[4].modelHash);
    assert.equal(sync.current?.modelHash, h[4].modelHash);
    assert.deepEqual(calls.indexes, [1], 'one index read, from the cached round');
    assert.deepEqual(calls.updates, path === 'updates' ? [1, 2, 3] : [], path);
    assert.equal(calls.snapshots, path === 'snapshot' ? 1 : 0, path);
    if (path === 'updates') assert.ok(logs.some((l) => l.includes(`3 update(s), ${updateBytes} bytes (the snapshot is ${snapshotBytes})`)));
  }
});

test('committed: a hash mismatch is logged loudly and the snapshot is refetched', async () => {
  const h = await history(2);
  const { sync, calls, logs } = fakes(h, 1);
  await sync.setRun(run);
  await sync.ensure(1, h[1].modelHash);
  const wrong = ('0x' + 'ee'.repeat(32)) as Hex;
  await sync.committed(1, wrong);
  assert.ok(logs.some((l) => l.startsWith('error: MODEL HASH MISMATCH')));
  assert.equal(calls.snapshots, 2);
});

test('committed with an unchanged hash (nothing accepted) only advances the round', async () => {
  const h = await history(1);
  const { sync, calls } = fakes(h, 0);
  await sync.setRun(run);
  await sync.ensure(0, h[0].modelHash);
  await sync.committed(0, h[0].modelHash);
  assert.equal(sync.current?.round, 1);
  assert.equal(sync.current?.modelHash, h[0].modelHash);
  assert.deepEqual(calls.updates, []);
});

test('a snapshot whose parameters do not match its hash is refused', async () => {
  const h = await history(1);
  const bad = { ...h[1], modelHash: h[0].modelHash };
  const { sync } = fakes([bad, bad], 0);
  await sync.setRun(run);
  await assert.rejects(sync.ensure(1, h[1].modelHash), /hash to/);
});
