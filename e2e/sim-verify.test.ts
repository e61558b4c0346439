// The verification simulator at a small size: the JSON shape that `npm run sim -- --verify`
// promises, every cheater kind caught, no honest contribution rejected. (The compute
// fraction is asserted only at full size, where a round's work dwarfs the fixed check cost:
// see the report of `tsx e2e/sim-verify.ts --json`.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHEATER_KINDS, runVerifySim } from './sim-verify.ts';

test('verification sim: every cheater kind detected at its first contribution, honest peers never rejected', { timeout: 300_000 }, async () => {
  const r = await runVerifySim({ peers: 4, rounds: 6, steps: 6, cheaters: 2, horizon: 5 });
  const v = r.verification;
  assert.deepEqual(
    v.cheaters.map((c) => c.kind),
    [...CHEATER_KINDS],
  );
  for (const c of v.cheaters) {
    assert.equal(c.detectionRate, 1, `${c.kind} detection`);
    assert.ok(c.meanContributionsToDetect <= 5, `${c.kind}: ${c.meanContributionsToDetect}`);
  }
  assert.equal(v.honestFalseRejections, 0);
  assert.ok(v.honestChecks >= 4 * v.settings.trustAfter, 'new identities are checked during the warm-up');
  assert.ok(typeof v.computeFraction === 'number' && v.computeFraction >= 0);
  assert.ok(JSON.parse(JSON.stringify(r)).verification.cheaters.length === 5);
});
