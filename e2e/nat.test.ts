// The NAT lab (e2e/nat-lab.ts): three Chromium volunteers, two behind cone NATs and one
// behind a symmetric NAT, coturn on the public side, one round per ICE setting.
// - no ICE servers: only host candidates, no link connects; every member uploads its own frame
//   to the coordinator (relay mode) and the round still commits with every contribution;
// - STUN only: the cone pair connects (srflx), the symmetric member's links fail and it
//   falls back to relay mode; the round commits with every contribution;
// - TURN (credentials from the coordinator's REST secret): every link connects, the
//   symmetric member's through a relay candidate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { natLabUnavailable, runNatScenario, startNatLab, type NatLab, type NatScenario } from './nat-lab.ts';

const unavailable = natLabUnavailable();
let lab: NatLab | null = null;
const log = (l: string) => console.log(`  ${l}`);
const report = (s: NatScenario) =>
  log(`${s.mode}: ${JSON.stringify({ ...s, attempts: s.attempts.map((a) => `${a.from}→${a.to} ${a.connected ? `${a.local}/${a.remote}` : 'failed'}`) })}`);

/** The round committed with all three members' contributions, and every page holds the coordinator's model. */
function assertCommitted(s: NatScenario): void {
  assert.equal(s.rounds.length, 1);
  assert.equal(s.rounds[0].contributions, 3, `every member's contribution is accepted: ${JSON.stringify(s.rounds)}`);
  assert.deepEqual(s.modelHashes, [s.coordinatorHash, s.coordinatorHash, s.coordinatorHash], 'every page reaches the committed model');
  assert.deepEqual(s.pageErrors, []);
}

before(async () => {
  if (!unavailable) lab = await startNatLab(['cone', 'cone', 'symmetric']);
});
after(async () => {
  await lab?.stop();
});

test(
  'no ICE servers: no link connects behind NAT, members upload their own frames and the round commits',
  { skip: unavailable ?? false, timeout: 180_000 },
  async () => {
    const s = await runNatScenario(lab!, 'none', 1, log);
    report(s);
    assert.deepEqual(s.iceServers, [0, 0, 0]);
    assert.equal(Object.keys(s.pairs).length, 3, `every pair dialled: ${JSON.stringify(s.pairs)}`);
    for (const [pair, p] of Object.entries(s.pairs)) assert.equal(p.connected, 0, `${pair}: host candidates do not cross a NAT`);
    assert.deepEqual(s.p2pBytes, [0, 0, 0], 'no frame travelled peer to peer');
    assertCommitted(s);
  },
);

test(
  'STUN only: the cone-NAT pair connects through server-reflexive candidates, the symmetric NAT falls back',
  { skip: unavailable ?? false, timeout: 180_000 },
  async () => {
    const s = await runNatScenario(lab!, 'stun', 1, log);
    report(s);
    assert.deepEqual(s.iceServers, [1, 1, 1]);
    assert.ok(s.pairs['0-1']?.tried > 0 && s.pairs['0-1'].connected === s.pairs['0-1'].tried, `cone ↔ cone connects: ${JSON.stringify(s.pairs)}`);
    assert.equal(s.pairs['0-2']?.connected, 0, 'cone ↔ symmetric does not (no relay)');
    assert.equal(s.pairs['1-2']?.connected, 0, 'cone ↔ symmetric does not (no relay)');
    assert.equal(s.iceCandidateTypes.relay, 0);
    assert.equal(s.iceCandidateTypes.host, 0, 'no host candidate crosses a NAT');
    assert.ok(s.iceCandidateTypes.srflx > 0, `the cone pair's selected candidates are server-reflexive: ${JSON.stringify(s.iceCandidateTypes)}`);
    assert.ok(s.p2pBytes[0] > 0 && s.p2pBytes[1] > 0, 'the cone pair exchanged frames');
    assert.equal(s.p2pBytes[2], 0, 'the symmetric member received no frame peer to peer');
    assertCommitted(s);
  },
);

test(
  "TURN with the coordinator's short-lived credentials: every link connects, the symmetric member through a relay",
  { skip: unavailable ?? false, timeout: 180_000 },
  async () => {
    const s = await runNatScenario(lab!, 'turn', 1, log);
    report(s);
    assert.deepEqual(s.iceServers, [2, 2, 2], 'STUN and TURN on every page');
    for (const pair of ['0-1', '0-2', '1-2']) {
      assert.ok(s.pairs[pair]?.tried > 0 && s.pairs[pair].connected === s.pairs[pair].tried, `${pair} connects: ${JSON.stringify(s.pairs)}`);
    }
    for (const a of s.attempts.filter((x) => x.from === 2 || x.to === 2)) {
      assert.ok(a.local === 'relay' || a.remote === 'relay', `a link with the symmetric NAT goes through TURN: ${JSON.stringify(a)}`);
    }
    assert.ok(s.iceCandidateTypes.relay > 0);
    assert.ok(
      s.p2pBytes.every((b) => b > 0),
      'every member received frames peer to peer',
    );
    assert.match(
      lab!.turnLog(),
      /session \d+: realm <idlegrad\.lab> user <\d+:0x[0-9a-f]{40}>: incoming packet ALLOCATE processed, success/,
      'coturn accepted the coordinator-issued credentials',
    );
    assertCommitted(s);
  },
);
