// End to end, GPT preset: three real Chromium volunteers train the byte-level GPT on a
// generated grammar text served by a real coordinator; held-out loss must fall every round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT_SWARM_RUN, runSwarm, useGeneratedText } from './swarm.ts';

test('a 3-volunteer swarm on the GPT preset lowers held-out loss round over round', { timeout: 25 * 60_000 }, async () => {
  useGeneratedText();
  const r = await runSwarm({ volunteers: 3, rounds: 3, log: (l) => console.log(`  ${l}`), run: { ...GPT_SWARM_RUN, rewards: { epochRounds: 3 } } });
  console.log(`  ${JSON.stringify(r)}`);
  assert.equal(r.rounds, 3);
  assert.equal(r.lostRounds, 0, 'no round commits without a contribution');
  assert.equal(r.acceptedContributions, 9);
  assert.equal(r.modelHashesAgree, true);
  assert.equal(r.denseBytesPerPeerPerRound, 136_576 * 4, 'the GPT_DEFAULT parameter table travelled');
  const losses = r.heldOutLossByRound;
  assert.equal(losses.length, 3);
  // An untrained byte model scores ln 256 ≈ 5.55 nats.
  assert.ok(losses[0] < Math.log(256), `round 0 held-out loss ${losses[0]}`);
  for (let i = 1; i < losses.length; i++) assert.ok(losses[i] < losses[i - 1], `held-out loss rose from round ${i - 1} to ${i}: ${losses.join(' → ')}`);
  assert.equal(r.verification.failed ?? 0, 0, 'honest GPU GPT work passes CPU re-execution');
  assert.deepEqual(r.pageErrors, []);
});
