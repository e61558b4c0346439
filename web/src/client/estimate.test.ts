import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN } from '../../../shared/config.ts';
import { estimateContribution } from './estimate.ts';

const run = {
  ...DEFAULT_RUN,
  inner: { ...DEFAULT_RUN.inner, steps: 100, batchSize: 32 },
  timing: { trainMs: 20_000, exchangeMs: 8_000, reportMs: 5_000 },
  rewards: { epochRounds: 3, weiPerSample: '1000' },
};

test('a device fast enough for a round is credited every round: samples and wei per hour', () => {
  const e = estimateContribution(run, 1000, 1);
  assert.equal(e.secondsPerRound, 3.2);
  assert.equal(e.fitsInRound, true);
  // 3200 samples a round, 3600 / 33 rounds an hour.
  assert.equal(e.samplesPerHour, Math.floor(3200 * (3600 / 33)));
  assert.equal(e.weiPerHour, (BigInt(e.samplesPerHour) * 1000n).toString());
});

test('the duty cycle slows a device; one too slow to finish a round earns nothing', () => {
  assert.equal(estimateContribution(run, 1000, 0.25).secondsPerRound, 12.8);
  const slow = estimateContribution(run, 100, 1); // 32 s > 28 s
  assert.equal(slow.fitsInRound, false);
  assert.equal(slow.samplesPerHour, 0);
  assert.equal(slow.weiPerHour, '0');
});
