import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chaosOptionsOf, lostRows, pagesFor } from './chaos.ts';

test('chaos options: validated against the swarm size, each error names its option', () => {
  assert.deepEqual(chaosOptionsOf({ byzantine: '1', attack: 'sign-flip', churn: '0.25', killCoordinatorAt: '3', offline: '0.5' }, 4), {
    byzantine: 1,
    attack: 'sign-flip',
    churn: 0.25,
    churnEvents: null,
    killCoordinatorAt: 3,
    offline: 0.5,
  });
  assert.throws(() => chaosOptionsOf({ byzantine: '4', attack: 'sign-flip' }, 4), /--byzantine/);
  assert.throws(() => chaosOptionsOf({ byzantine: '1', attack: 'alie' }, 4), /--attack: expected one of sign-flip/);
  assert.throws(() => chaosOptionsOf({ attack: 'noise' }, 4), /--attack needs --byzantine/);
  assert.throws(() => chaosOptionsOf({ churn: '1.5' }, 4), /--churn/);
  assert.throws(() => chaosOptionsOf({ killCoordinatorAt: '-1' }, 4), /--kill-coordinator-at/);
  assert.equal(pagesFor(0.1, 3), 1);
  assert.equal(pagesFor(0, 3), 0);
  assert.deepEqual(lostRows(new Set(['a@1', 'b@1', 'c@1']), { settled: new Set(['a@1', 'a@2']), awaitingCheck: new Set(['c@1']) }), ['b@1']);
});
