import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BaseError, IdlegradError, isIdlegradError, serializeError, isSerializedError } from './errors.ts';
import { ChainError } from './chain/errors.ts';
import { ClaimError } from './chain/claim.ts';

test('every platform error is a BaseError with code, shortMessage, details and cause', () => {
  const cause = new Error('underlying');
  const errors: BaseError[] = [
    new IdlegradError('BAD_FRAME', 'frame too short', { details: '3 bytes', cause }),
    new ChainError('TX_REVERTED', 'postRoot failed', { details: 'tx 0x01', cause }),
    new ClaimError('NothingToClaim', 'nothing to claim', { details: 'epoch 2', cause }),
  ];
  for (const e of errors) {
    assert.ok(e instanceof BaseError && e instanceof Error);
    assert.equal(e.cause, cause);
    assert.equal(e.details, e.message.split('\n\nDetails: ')[1]);
    assert.equal(e.shortMessage, e.message.split('\n')[0]);
  }
  assert.deepEqual(
    errors.map((e) => e.code),
    ['BAD_FRAME', 'TX_REVERTED', 'CLAIM_REJECTED'],
  );
  assert.ok(isIdlegradError(errors[0], 'BAD_FRAME') && !isIdlegradError(errors[0], 'BAD_MESSAGE') && !isIdlegradError(errors[1]));
});

test('serializeError keeps code, shortMessage and details as plain data', () => {
  const s = serializeError(new IdlegradError('STALE_ROUND', 'round 3 is closed', { details: 'open round 4' }));
  assert.deepEqual(s, { name: 'IdlegradError', code: 'STALE_ROUND', shortMessage: 'round 3 is closed', details: 'open round 4' });
  assert.deepEqual(structuredClone(s), s);
  assert.deepEqual(serializeError(new RangeError('out of range')), { name: 'RangeError', code: null, shortMessage: 'out of range', details: null });
  assert.deepEqual(serializeError('just a string'), { name: 'Error', code: null, shortMessage: 'just a string', details: null });
  assert.ok(
    isSerializedError(s) && !isSerializedError(new Error('x')) && !isSerializedError(null) && !isSerializedError({ name: 'x', shortMessage: 'y', code: 3 }),
  );
});
