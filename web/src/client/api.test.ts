import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashParams } from '../../../shared/model.ts';
import { isIdlegradError } from '../../../shared/errors.ts';
import { CoordinatorApi, parseDataset, parseSnapshot } from './api.ts';

function datasetBytes(count: number, features: number, label = (i: number) => i % 10): ArrayBuffer {
  const b = new Uint8Array(8 + count + count * features);
  new DataView(b.buffer).setUint32(0, count, true);
  new DataView(b.buffer).setUint32(4, features, true);
  for (let i = 0; i < count; i++) b[8 + i] = label(i);
  for (let i = 0; i < count * features; i++) b[8 + count + i] = i & 0xff;
  return b.buffer;
}

function snapshotBytes(head: object, params: Float32Array, momentum: Float32Array): ArrayBuffer {
  const json = new TextEncoder().encode(JSON.stringify(head));
  const start = (4 + json.length + 3) & ~3;
  const b = new Uint8Array(start + 8 * params.length);
  new DataView(b.buffer).setUint32(0, json.length, true);
  b.set(json, 4);
  b.set(new Uint8Array(params.buffer), start);
  b.set(new Uint8Array(momentum.buffer), start + 4 * params.length);
  return b.buffer;
}

test('parseDataset reads count, features, labels and images', () => {
  const d = parseDataset(datasetBytes(3, 4), { count: 3, features: 4, classes: 10 });
  assert.equal(d.count, 3);
  assert.deepEqual([...d.labels], [0, 1, 2]);
  assert.equal(d.images.length, 12);
  assert.equal(d.images[5], 5);
});

test('parseDataset refuses a shape the run does not expect, a wrong length, or a bad label', () => {
  assert.throws(() => parseDataset(datasetBytes(3, 4), { count: 4, features: 4, classes: 10 }), /does not match/);
  assert.throws(() => parseDataset(datasetBytes(3, 4).slice(0, 20), { count: 3, features: 4, classes: 10 }), /implies/);
  assert.throws(() => parseDataset(datasetBytes(3, 4, () => 12), { count: 3, features: 4, classes: 10 }), /not a class/);
});

test('parseSnapshot handles header padding to 4 bytes for every JSON length', () => {
  const params = Float32Array.from([1, -2, 3.5]);
  const momentum = Float32Array.from([0.1, 0.2, 0.3]);
  for (const pad of ['', 'x', 'xx', 'xxx']) {
    const head = { round: 4, modelHash: hashParams(params), note: pad };
    const s = parseSnapshot(snapshotBytes(head, params, momentum), 3);
    assert.equal(s.round, 4);
    assert.deepEqual([...s.params], [...params]);
    assert.deepEqual([...s.momentum], [...momentum]);
    assert.equal(s.modelHash, hashParams(params));
  }
});

test('parseSnapshot refuses a snapshot sized for another model', () => {
  const p = new Float32Array(3);
  assert.throws(() => parseSnapshot(snapshotBytes({ round: 0, modelHash: hashParams(p) }, p, p), 4), /needs/);
  assert.throws(() => parseSnapshot(snapshotBytes({ round: 'x', modelHash: hashParams(p) }, p, p), 3), /round/);
});

test('HTTP errors carry the coordinator error code and message', async () => {
  const api = new CoordinatorApi('http://c', async () => new Response(JSON.stringify({ error: { code: 'STALE_ROUND', message: 'round 3 is closed' } }), { status: 409 }));
  await assert.rejects(api.postAggregate(1, 3, new Uint8Array(4)), (e) => isIdlegradError(e, 'STALE_ROUND') && /round 3 is closed/.test(e.message));
  const down = new CoordinatorApi('http://c', async () => {
    throw new TypeError('fetch failed');
  });
  await assert.rejects(down.account('0x0000000000000000000000000000000000000001'), /unreachable/);
});

test('requests go to the documented paths with the documented bodies', async () => {
  const calls: { url: string; init?: RequestInit }[] = [];
  const api = new CoordinatorApi('http://c', async (url, init) => {
    calls.push({ url: String(url), init });
    return new Response(JSON.stringify({ aggregateHash: '0x00', txHash: '0x01' }), { status: 200 });
  });
  await api.postAggregate(2, 9, new Uint8Array([1, 2]));
  await api.faucet('0x0000000000000000000000000000000000000001');
  await api.claimed('0x0000000000000000000000000000000000000001', '0xab');
  assert.equal(calls[0].url, 'http://c/api/runs/2/rounds/9/aggregate');
  assert.equal((calls[0].init?.headers as Record<string, string>)['content-type'], 'application/octet-stream');
  assert.equal(calls[1].url, 'http://c/api/faucet');
  assert.deepEqual(JSON.parse(String(calls[1].init?.body)), { address: '0x0000000000000000000000000000000000000001' });
  assert.equal(calls[2].url, 'http://c/api/accounts/0x0000000000000000000000000000000000000001/claimed');
  assert.deepEqual(JSON.parse(String(calls[2].init?.body)), { txHash: '0xab' });
});
