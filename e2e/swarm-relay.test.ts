// End to end, issue 16: a relay that costs bandwidth, never participation. Real Chromium
// volunteers against a real coordinator, with WebRTC blocked for chosen pages (e2e/byte-meter.ts
// blockWebRtc: no ICE candidate, as behind a NAT nothing crosses). Partial connectivity (one page
// reaches nobody over WebRTC, the other two reach each other) and no WebRTC at all: every round
// commits with every member's contribution, the missing frames having travelled through the
// coordinator's WebSocket relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSwarm } from './swarm.ts';

const ROUNDS = 3;

for (const [name, blocked] of [
  ['partial connectivity: volunteer 0 has no WebRTC path, 1 and 2 reach each other', [0]],
  ['no WebRTC at all: every frame goes through the relay', [0, 1, 2]],
] as const) {
  test(`${name}; every round commits with every contribution`, { timeout: 20 * 60_000 }, async () => {
    const r = await runSwarm({
      volunteers: 3,
      rounds: ROUNDS,
      noWebRtc: [...blocked],
      log: (l) => console.log(`  ${l}`),
      // The default round timing: with TEST_ROUND_TIMING's 4 s exchange a relayed frame missed
      // its window once in a whole `npm test` at load ~3 (7 of 9 accepted), so these stay on 20/8/5 s.
      run: { rewards: { epochRounds: ROUNDS } },
    });
    console.log(`  ${JSON.stringify({ ...r, chaos: undefined, validator: undefined })}`);
    assert.equal(r.rounds, ROUNDS);
    assert.equal(r.lostRounds, 0);
    assert.equal(r.acceptedContributions, 3 * ROUNDS, 'every member is accepted in every round');
    assert.equal(r.modelHashesAgree, true);
    // Each blocked page relays its frame to its 2 peers, and gets theirs relayed, every round after the first commit.
    assert.ok(r.relayedFrames >= 2 * blocked.length * (ROUNDS - 1), `${r.relayedFrames} relayed frames`);
    if (blocked.length === 3) assert.equal(r.p2pBytes, 0, 'no byte crossed a data channel');
    else assert.ok(r.p2pBytes > 0, 'the connected pair still exchanged over WebRTC');
    assert.deepEqual(r.pageErrors, []);
  });
}
