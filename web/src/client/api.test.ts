import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIdlegradError } from '../../../shared/errors.ts';
import { CoordinatorApi } from './api.ts';

test('HTTP errors carry the coordinator error code and message', async () => {
  const api = new CoordinatorApi(
    'http://c',
    async () => new Response(JSON.stringify({ error: { code: 'STALE_ROUND', message: 'round 3 is closed' } }), { status: 409 }),
  );
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
    return new Response(JSON.stringify({ aggregateHash: `0x${'00'.repeat(32)}`, txHash: `0x${'01'.repeat(32)}`, cumulativeWei: '5' }), { status: 200 });
  });
  await api.postAggregate(2, 9, new Uint8Array([1, 2]));
  await api.faucet('0x0000000000000000000000000000000000000001');
  await api.claimed('0x0000000000000000000000000000000000000001', `0x${'ab'.repeat(32)}`);
  assert.equal(calls[0].url, 'http://c/api/runs/2/rounds/9/aggregate');
  assert.equal((calls[0].init?.headers as Record<string, string>)['content-type'], 'application/octet-stream');
  // Binary bodies go as a Blob of exactly those bytes (a typed array is copied into DevTools' events: api.ts postBytes).
  assert.ok(calls[0].init?.body instanceof Blob);
  assert.deepEqual(new Uint8Array(await (calls[0].init.body as Blob).arrayBuffer()), new Uint8Array([1, 2]));
  assert.equal(calls[1].url, 'http://c/api/faucet');
  assert.deepEqual(JSON.parse(String(calls[1].init?.body)), { address: '0x0000000000000000000000000000000000000001' });
  assert.equal(calls[2].url, 'http://c/api/accounts/0x0000000000000000000000000000000000000001/claimed');
  assert.deepEqual(JSON.parse(String(calls[2].init?.body)), { txHash: `0x${'ab'.repeat(32)}` });
});

test('a reply that does not parse is refused naming the request and the keypath; an error body that does not parse keeps the status', async () => {
  const reply = (body: unknown, status = 200) =>
    new CoordinatorApi('http://c/', async () => new Response(typeof body === 'string' ? body : JSON.stringify(body), { status }));
  await assert.rejects(
    reply({ aggregateHash: '0x12' }).postAggregate(1, 3, new Uint8Array(4)),
    (e) => isIdlegradError(e, 'BAD_MESSAGE') && /^uploading the round 3 aggregate: reply\.aggregateHash: expected a 32-byte hex string/.test(e.shortMessage),
  );
  await assert.rejects(
    reply('<html>').faucet('0x0000000000000000000000000000000000000001'),
    (e) => isIdlegradError(e, 'BAD_MESSAGE') && /reply is not JSON/.test(e.shortMessage),
  );
  const summary = {
    address: `0x${'11'.repeat(20)}`,
    contributions: { pending: 0, accepted: 1, verified: 0, rejected: 1, batched: 0, claimable: 0, claimed: 0 },
    creditWei: '10',
    claimedWei: '0',
    epochCreditWei: '0',
    recent: [{ round: 2, state: 'rejected', code: 'LEFT_OUT', reason: 'left out', samples: 32, epoch: null }],
  };
  assert.equal((await reply(summary).account(`0x${'11'.repeat(20)}`)).recent[0].code, 'LEFT_OUT');
  const badCode = { ...summary, recent: [{ ...summary.recent[0], code: 'LEFT OUT' }] };
  await assert.rejects(
    reply(badCode).account(`0x${'11'.repeat(20)}`),
    (e) => isIdlegradError(e, 'BAD_MESSAGE') && /reply\.recent\[0\]\.code: expected one of LEFT_OUT, /.test(e.shortMessage),
  );
  await assert.rejects(
    reply('Bad Gateway', 502).dashboard(),
    (e) => isIdlegradError(e, 'INTERNAL') && /loading the dashboard failed: 502/.test(e.shortMessage) && e.details === 'HTTP 502; the body is not JSON',
  );
  await assert.rejects(
    reply({ error: { code: 'NOT_FOUND', message: 'no contribution 9' } }, 404).contribution(9),
    (e) => isIdlegradError(e, 'NOT_FOUND') && /no contribution 9/.test(e.shortMessage),
  );
});
