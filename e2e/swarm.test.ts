// End to end: three real Chromium volunteers (WebGPU on SwiftShader) against a real
// coordinator, PeerServer, PGlite ledger and anvil chain, for several rounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSwarm } from './swarm.ts';
import { TEST_ROUND_TIMING } from './platform-process.ts';

test('a swarm of 3 volunteers trains, agrees on the model hash, and claims its rewards', { timeout: 25 * 60_000 }, async () => {
  const r = await runSwarm({
    volunteers: 3,
    rounds: 4,
    log: (l) => console.log(`  ${l}`),
    run: { rewards: { epochRounds: 2 }, timing: TEST_ROUND_TIMING },
    platformLog: `e2e/test-results/swarm-platform-${Date.now()}.log`,
  });
  console.log(`  ${JSON.stringify(r)}`);
  assert.equal(r.rounds, 4);
  assert.equal(r.firstRoundContributors, 3, 'every page contributes in its first full round');
  assert.equal(r.acceptedContributions, 12);
  assert.equal(r.lostRounds, 0);
  // Measured at the pages' transports: a round costs the all-gather, the global update and the control messages.
  assert.ok(r.upBytesPerPeerPerRound > r.frameBytesPerPeerPerRound, `up ${r.upBytesPerPeerPerRound} B/round carries at least the frame`);
  assert.ok(r.downBytesPerPeerPerRound > r.updateBytesPerPeerPerRound && r.updateBytesPerPeerPerRound > 0, JSON.stringify(r));
  assert.equal(r.cohortSize, 3);
  // Links persist across rounds while the cohort does: each page dials and answers in round 0 (2 peer
  // connections), then reuses them (a link that drops is redialled, so not exactly 0 under load).
  assert.ok(r.peerConnectionsPerPeerPerRound < 1, `peer connections a page a round after round 0: ${r.peerConnectionsPerPeerPerRound}`);
  // …and the counter counts: over the whole run, round 0 included, a page opened its 2 links.
  assert.ok(r.peerConnectionsPerPeer >= 2, `peer connections a page made in all: ${r.peerConnectionsPerPeer}`);
  assert.equal(r.modelHashesAgree, true);
  assert.ok(r.p2pBytes > 0, 'frames travelled over WebRTC');
  // All four rounds are the MLP's codec warm-up (rounds 0–5 at 30 %, shared/codec.ts codecAtRound):
  // about dense/21 a frame (warm26), where the steady 3 % frames are about dense/110.
  assert.ok(
    r.frameBytesPerPeerPerRound > 0 && r.frameBytesPerPeerPerRound <= r.denseBytesPerPeerPerRound / 12,
    `frame ${r.frameBytesPerPeerPerRound} B vs dense ${r.denseBytesPerPeerPerRound} B`,
  );
  assert.ok(r.heldOutAccuracy > 0.5, `held-out accuracy ${r.heldOutAccuracy}`);
  assert.equal(r.rewardEpochs, 2);
  assert.equal(r.claims, 3);
  assert.equal(r.claimsMatchLedger, true, 'each volunteer holds exactly the tokens the ledger credited');
  assert.ok((r.verification.passed ?? 0) >= 3, `new identities are spot-checked: ${JSON.stringify(r.verification)}`);
  assert.equal(r.verification.failed ?? 0, 0, 'honest browser work passes re-execution');
  assert.ok(r.validator?.executor === 'dawn' || r.validator?.executor === 'cpu', `the validator names its executor: ${JSON.stringify(r.validator)}`);
  assert.deepEqual(r.pageErrors, []);
});
