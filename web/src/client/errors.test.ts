import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BaseError as ViemBaseError } from 'viem';
import { IdlegradError } from '../../../shared/errors.ts';
import { ChainError } from '../../../shared/chain/errors.ts';
import { DeviceLostError } from '../../../kernels/errors.ts';
import { describeError } from './errors.ts';

test("describeError: code and short message of every BaseError, viem's short message, else the first line", () => {
  assert.equal(describeError(new IdlegradError('NOT_FOUND', 'no run 3', { details: 'HTTP 404' })), '[NOT_FOUND] no run 3 (HTTP 404)');
  assert.equal(describeError(new ChainError('TX_REVERTED', 'claim failed')), '[TX_REVERTED] claim failed');
  assert.equal(
    describeError(new DeviceLostError('The GPU device was lost.', { details: 'reason: destroyed' })),
    '[DEVICE_LOST] The GPU device was lost. (reason: destroyed)',
  );
  assert.equal(describeError(new ViemBaseError('RPC unreachable', { details: 'fetch failed' })), 'RPC unreachable (fetch failed)');
  assert.equal(describeError(new Error('first line\nsecond line')), 'first line');
  assert.equal(describeError(42), '42');
});
