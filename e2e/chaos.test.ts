// End to end under chaos: one attacking page among three honest ones, one honest page closed
// mid-round (and replaced), and the coordinator's process group SIGKILLed when round 2 commits and
// restarted on the same ledger, port and chain — real Chromium pages, PeerServer, PGlite, anvil.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RUN } from '../shared/config.ts';
import { runSwarm } from './swarm.ts';

// CHAOS_LEAVE_ONE_OUT=off runs the same swarm with the cohort's leave-one-out vote switched off
// (run.aggregator.leaveOneOut false): the break check of the vote assertion below, which must then fail.
const voteOff = process.env.CHAOS_LEAVE_ONE_OUT === 'off';

test('chaos: training continues past a coordinator kill, nothing credited is lost, the attacker earns nothing', { timeout: 10 * 60_000 }, async () => {
  // The pages' logs, kept for a failure: each member's 'reported frame' line names what the
  // in-cohort vote saw (norms, samples, cosines: shared/round.ts describeVote).
  const logDir = mkdtempSync(join(tmpdir(), 'idlegrad-chaos-'));
  const r = await runSwarm({
    volunteers: 4,
    rounds: 5,
    platformLog: join(logDir, 'platform.log'),
    log: (l) => console.log(`  ${l}`),
    // A closed page's spot check waits evidenceTimeoutMs for evidence that never comes; a live page
    // must still reconnect within it after the restart: 12 s instead of 20.
    // Three ready pages start a round, so the attacker always shares its cohort (one cohort of
    // every ready page) with at least two honest pages, even mid-round after the churn closed one:
    // the leave-one-out vote then refuses its frame and the round commits the honest ones. (With two
    // pages a round, an attacker seated with one honest page is an opposed pair, NO_QUORUM for both:
    // 3 of 5 rounds committed nothing, and the missing reward epoch cost a 60 s wait.) One page slow
    // to come back after the restart still delays no round.
    run: {
      minVolunteers: 3,
      ...(voteOff ? { aggregator: { ...DEFAULT_RUN.aggregator, leaveOneOut: false } } : {}),
      // One reward epoch, closing the last round: an epoch closing round 1 waits for its spot
      // checks (up to its rounds' length) and the kill at round 2's commit cancelled it in every
      // run, so the swarm then waited 60 s for it (the next cumulative epoch pays its credit; the
      // crash-safe posting of an opened epoch is e2e/epoch-crash.test's claim).
      rewards: { epochRounds: 5 },
      // A 6 s report window (was 3 s): the cohort agreement's relay and announcement live in its
      // first 25 % and 60 % (web/src/client/round/agreement.ts), 0.75 s and 1.8 s of 3 s. At load
      // 25 with 3 s, the round with a closed member and the next, with a newly joined one,
      // committed nothing (cause not traced further). A round where every member reports still
      // ends at once.
      timing: { trainMs: 8_000, exchangeMs: 3_000, reportMs: 6_000 },
      verification: { evidenceTimeoutMs: 12_000 },
    },
    // churn 1/3: one of the three honest pages.
    chaos: { byzantine: 1, attack: 'sign-flip', churn: 0.34, churnEvents: 1, killCoordinatorAt: 2 },
  });
  console.log(`  ${JSON.stringify(r)}`);
  let passed = false;
  try {
    checkChaos(r);
    passed = true;
  } finally {
    const pages = join(logDir, 'platform-pages.log');
    if (!passed && existsSync(pages))
      console.log(
        readFileSync(pages, 'utf8')
          .split('\n')
          .filter((l) => /reported frame|uploaded the|refused|abstain|announce|left out/.test(l))
          .map((l) => `  page log: ${l}`)
          .join('\n'),
      );
    rmSync(logDir, { recursive: true, force: true });
  }
});

function checkChaos(r: Awaited<ReturnType<typeof runSwarm>>): void {
  const c = r.chaos;
  assert.equal(r.rounds, 5);
  assert.equal(c.coordinatorRestarts, 1);
  assert.ok(c.killedAtRound !== null && c.killedAtRound < 4, `killed after round ${c.killedAtRound}`);
  assert.equal(c.roundsCommittedAfterKill, 4 - c.killedAtRound!, 'every round after the kill commits');
  assert.ok(c.pagesClosed === 1 && c.pagesOpened === 1, `closed ${c.pagesClosed}, opened ${c.pagesOpened}`);
  assert.equal(r.modelHashesAgree, true, "every live page holds the coordinator's model hash");
  assert.ok(c.creditedBeforeKill + c.awaitingCheckAtKill > 0, 'the ledger held credited work before the kill');
  assert.deepEqual(c.lostAfterKill, [], 'every settled contribution credited before the kill is still credited after it');
  assert.equal(c.attackerCreditWei, '0');
  assert.equal(c.attackerTokenWei, '0');
  assert.ok(c.attackers[0].contributions.rejected >= 1, JSON.stringify(c.attackers));
  // Flagged for its own conduct: its frame refused by its cohort's aggregate (LEFT_OUT: the
  // leave-one-out vote of a cohort of 3 or 4, issue 15) or its work by a spot check (negative reputation).
  const flagged = c.flagged?.identities.find((f) => f.account.toLowerCase() === c.attackers[0].account.toLowerCase());
  assert.ok(flagged && (flagged.reputation < 0 || flagged.refused >= 1), `the dashboard flags the attacker: ${JSON.stringify(c.flagged)}`);
  // The leave-one-out vote itself (issue 15): in every committed round where the attacker reported
  // in the one cohort with at least two others whose aggregate won, its frame was refused at
  // commit (LEFT_OUT), never applied and caught only later by a spot check; and at least one such
  // round happened, so this cannot pass vacuously. With run.aggregator.leaveOneOut false it fails
  // (the attacker's frame is in the winning aggregate and accepted).
  const voted = c.voteRounds;
  assert.ok(voted.length >= 1, `no round where the vote decided the attacker's frame: ${JSON.stringify(c.attackers[0].rows)}`);
  assert.ok(
    voted.every((v) => v.refusedAtCommit) && voted.some((v) => v.code === 'LEFT_OUT'),
    `the vote let the attacker's frame through: ${JSON.stringify(voted)}`,
  );
  // The model learns through the attack and the kill. An untrained 10-class model scores ln 10 ≈ 2.30
  // nats; three honest pages reach ≈ 90 % in 4 rounds without an attacker (e2e/swarm.test.ts).
  // Before the vote the attacker's −4Δ reached the model through its cohort of 3 (CI at 7cb912a:
  // round 0 took the loss from 2.30 to 2.93).
  const losses = r.heldOutLossByRound;
  console.log(
    `  held-out loss by round ${losses.map((l) => l.toFixed(3)).join(' → ')}, accuracy ${(100 * r.heldOutAccuracy).toFixed(1)} %; ${r.lostRounds} round(s) with no accepted contribution; attacker refused as ${c.attackers[0].codes.join(', ')}`,
  );
  assert.ok(r.heldOutLoss < 1 && r.heldOutLoss < losses[c.killedAtRound!], `held-out loss ${losses.join(' → ')}: no progress past the kill`);
  assert.ok(r.heldOutAccuracy >= 0.7, `held-out accuracy ${r.heldOutAccuracy} after ${r.rounds} rounds`);
  assert.ok(r.claims >= 1, 'honest pages claimed on chain');
  assert.equal(r.claimsMatchLedger, true, 'each honest page holds exactly the tokens the ledger credited it');
}
