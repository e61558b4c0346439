import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccountRow } from '../../../shared/wire/index.ts';
import { partnerWork, RECENT_ROWS_MAX } from './partner-work.ts';

const row = (round: number, state: AccountRow['state'], partner: string | null, samples = 32): AccountRow => ({
  round,
  state,
  code: null,
  reason: null,
  samples,
  epoch: null,
  partner,
});

test("counts only this partner's rows, credited samples apart from pending and refused work", () => {
  const rows = [
    row(1, 'verified', 'blog', 64),
    row(2, 'claimed', 'blog'),
    row(3, 'pending', 'blog'),
    row(4, 'rejected', 'blog'),
    row(5, 'accepted', 'shop'),
    row(6, 'accepted', null),
  ];
  assert.deepEqual(partnerWork(rows, 'blog'), { credited: 2, pending: 1, rejected: 1, samples: 96, partial: false });
  assert.deepEqual(partnerWork(rows, 'none'), { credited: 0, pending: 0, rejected: 0, samples: 0, partial: false });
  const many = Array.from({ length: RECENT_ROWS_MAX }, (_, i) => row(i, 'accepted', 'blog'));
  assert.equal(partnerWork(many, 'blog').partial, true, 'a full window of rows may not be all of them');
});
