// The verification simulator at a small size: the JSON shape that `npm run sim -- --verify`
// promises, every cheater kind caught at its first contribution and paid nothing, no honest
// contribution rejected, and the credit rule measured on sleepers through the coordinator's
// ledger: the same run (same seed, so the same samples and verdicts) with vesting switched off
// pays sleepers for cheats, and with a vesting window of 3 / rate pays them less. (The compute
// fraction and the acceptance bars are asserted only at full size: see the report of
// `tsx e2e/sim-verify.ts --json`.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHEATER_KINDS, CHEATER_ROWS, runVerifySim, type CheaterRow } from './sim-verify.ts';

const small = (vestingRounds: number) =>
  runVerifySim({
    peers: 3,
    rounds: 4,
    steps: 4,
    cheaters: 1,
    sleepers: 1,
    horizon: 3,
    honestFor: 3,
    cheatRounds: 10,
    seed: 7,
    run: { verification: { rate: 0.25, trustAfter: 1, vestingRounds } },
  });
const sleeperTotals = (rows: CheaterRow[]) => {
  const s = rows.filter((c) => c.kind.startsWith('sleeper-'));
  return { sent: s.reduce((n, c) => n + c.cheatsSent, 0), credited: s.reduce((n, c) => n + c.cheatsCredited, 0) };
};

test('verification sim: cheaters caught at once and unpaid; sleepers paid for cheats without vesting, less with it', { timeout: 600_000 }, async () => {
  const unvested = (await small(0)).verification;
  const vested = (await small(12)).verification;
  for (const v of [unvested, vested]) {
    assert.deepEqual(
      v.cheaters.map((c) => c.kind),
      CHEATER_ROWS,
    );
    assert.equal(v.honestFalseRejections, 0);
    assert.ok(v.honestChecks > 0 && typeof v.computeFraction === 'number' && v.computeFraction >= 0);
    for (const kind of CHEATER_KINDS) {
      const c = v.cheaters.find((x) => x.kind === kind)!;
      assert.deepEqual(
        [c.detectionRate, c.meanContributionsToDetect, c.cheatsCredited],
        [1, 1, 0],
        `${kind}: caught at its first contribution, nothing credited`,
      );
      assert.ok(c.netGainFromCheating <= 0, `${kind}: net gain ${c.netGainFromCheating}`);
      const s = v.cheaters.find((x) => x.kind === `sleeper-${kind}`)!;
      assert.ok(s.cheatsSent > 0 && s.cheatsCredited <= s.cheatsSent, `sleeper-${kind}: ${s.cheatsCredited} of ${s.cheatsSent}`);
      assert.ok(s.heldWhenCheatingBegan > 0, `sleeper-${kind} earned credit while honest`);
    }
    assert.equal(JSON.parse(JSON.stringify({ verification: v })).verification.cheaters.length, 2 * CHEATER_KINDS.length);
  }
  // Same seed: the same contributions sampled and the same verdicts; only the credit rule differs.
  assert.deepEqual(
    vested.cheaters.map((c) => [c.kind, c.cheatsSent, c.detectionRate]),
    unvested.cheaters.map((c) => [c.kind, c.cheatsSent, c.detectionRate]),
  );
  const a = sleeperTotals(unvested.cheaters);
  const b = sleeperTotals(vested.cheaters);
  assert.ok(a.credited > 0, `without vesting, sleepers' cheats batched before the catch are paid (${a.credited} of ${a.sent})`);
  assert.ok(b.credited < a.credited, `vesting over 3 / rate rounds pays fewer cheats: ${b.credited} vs ${a.credited} of ${a.sent}`);
});
