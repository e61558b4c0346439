// A tiny run of the simulator (in this thread, about 30 s on a CI core): the real trainer, codec,
// aggregator and outer step, checked for what the full `npm run sim` is meant to show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnist } from '../coordinator/data/index.ts';
import { DEFAULT_SIM, runScenario, scenarioList, type ScenarioResult } from './sim.ts';

test('sim: compression, a refused NaN attacker, and robustness the mean control lacks', () => {
  const data = loadMnist();
  const st = { ...DEFAULT_SIM, peers: 6, rounds: 5, steps: 12 };
  const all = scenarioList({ quick: false });
  const pick = (name: string) => {
    const sc = all.find((s) => s.name === name);
    assert.ok(sc, name);
    return sc;
  };
  const run = (name: string): ScenarioResult => runScenario(pick(name), st, data);
  const dense = run('dense');
  const compressed = run('compressed');
  const nan = run('nan-33');
  const robust = run('sign-flip-33');
  const control = run('sign-flip-33-mean');

  assert.ok(compressed.bytesPerPeerPerRound * 100 <= dense.bytesPerPeerPerRound, `compressed ${compressed.bytesPerPeerPerRound} B vs dense ${dense.bytesPerPeerPerRound} B`);
  assert.ok(compressed.accuracy > 0.6, `compressed training learns (${compressed.accuracy})`);
  assert.equal(nan.byzantineExcluded, nan.byzantineSent, 'every NaN frame is refused');
  assert.ok(nan.byzantineSent === 2 * st.rounds && nan.honestExcluded === 0);
  assert.equal(control.byzantineExcluded, 0, 'the control rejects nothing');
  assert.ok(robust.accuracy > control.accuracy + 0.1, `robust ${robust.accuracy} vs mean ${control.accuracy}`);
});

test('sim: adaptive inner steps — a faster peer does more steps in the budget and its update weighs its samples', () => {
  const data = loadMnist();
  const st = { ...DEFAULT_SIM, peers: 4, rounds: 3, steps: 8 };
  const sc = scenarioList({ quick: false }).find((s) => s.name === 'adaptive-steps');
  assert.ok(sc);
  const r = runScenario(sc, st, data);
  // Speeds 1, 0.75, 0.5, 0.25 of the fastest: 8, 6, 4, 2 steps of 32 samples a round.
  assert.deepEqual(r.samplesPerSlot, [8, 6, 4, 2].map((s) => s * st.batchSize * st.rounds));
  assert.equal(r.honestExcluded, 0, 'unequal updates are all kept');
  assert.ok(r.accuracy > 0.5, `the run learns (${r.accuracy})`);
});
