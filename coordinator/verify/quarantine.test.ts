import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { openDatabase, Ledger } from '../db/index.ts';
import { Quarantine } from './quarantine.ts';

const addr = (i: number) => `0x${i.toString(16).padStart(40, '0')}` as Address;

test('quarantine holds identities with a negative reputation, from the ledger at startup and after each check', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  // recordCheck moves reputation even for a row that is not (or no longer) accepted.
  await ledger.recordCheck(0, addr(1), { code: 'WORK_MISMATCH', prose: 'x' }, {}, { pass: 1, fail: 10 });
  await ledger.recordCheck(0, addr(2), null, {}, { pass: 1, fail: 10 });
  const q = new Quarantine(ledger);
  assert.equal(await q.load(), 1);
  assert.ok(q.has(addr(1)) && !q.has(addr(2)));
  assert.ok(q.has(addr(1).toUpperCase().replace('0X', '0x') as Address), 'addresses compare case-insensitively');
  await ledger.recordCheck(0, addr(2), { code: 'WORK_MISMATCH', prose: 'x' }, {}, { pass: 1, fail: 10 });
  assert.equal(await q.refresh(addr(2)), true);
  for (let i = 0; i < 10; i++) await ledger.recordCheck(0, addr(1), null, {}, { pass: 1, fail: 10 });
  assert.equal(await q.refresh(addr(1)), false, 'ten passes earn a failed check back');
  assert.ok(!q.has(addr(1)) && q.has(addr(2)));
  await sql.close();
});
