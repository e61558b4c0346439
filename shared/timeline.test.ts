import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contributionTimeline } from './timeline.ts';

const steps = (t: ReturnType<typeof contributionTimeline>) => t.map((e) => `${e.step}:${e.status}`);

test('a pending contribution has every later step ahead of it', () => {
  assert.deepEqual(steps(contributionTimeline({ state: 'pending', reason: null, epoch: null })), [
    'pending:current',
    'accepted:todo',
    'verified:todo',
    'batched:todo',
    'claimable:todo',
    'claimed:todo',
  ]);
});

test('a claimed contribution shows its epoch and claim transaction, and whether it was checked', () => {
  const t = contributionTimeline({ state: 'claimed', reason: null, epoch: 3, verification: 'skipped', claimTx: '0xabc' });
  assert.deepEqual(steps(t), ['pending:done', 'accepted:done', 'verified:done', 'batched:done', 'claimable:done', 'claimed:current']);
  assert.equal(t.find((e) => e.step === 'batched')!.detail, 'epoch 3');
  assert.equal(t.find((e) => e.step === 'claimed')!.detail, '0xabc');
  assert.match(t.find((e) => e.step === 'verified')!.detail!, /not sampled/);
});

test('rejected at commit ends after pending with the reason; a failed spot check after accepted', () => {
  assert.deepEqual(steps(contributionTimeline({ state: 'rejected', code: 'NO_QUORUM', reason: 'x', epoch: null })), ['pending:done', 'rejected:failed']);
  const t = contributionTimeline({ state: 'rejected', code: 'WORK_MISMATCH', reason: 'y', epoch: null, verification: 'failed' });
  assert.deepEqual(steps(t), ['pending:done', 'accepted:done', 'rejected:failed']);
  assert.equal(t.at(-1)!.detail, 'WORK_MISMATCH: y');
  assert.equal(
    contributionTimeline({ state: 'rejected', code: null, reason: 'refused before the code column', epoch: null }).at(-1)!.detail,
    'refused before the code column',
  );
  assert.equal(contributionTimeline({ state: 'rejected', reason: null, epoch: null }).at(-1)!.detail, 'no reason recorded');
});
