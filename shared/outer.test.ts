import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOuterStep, outerLrAt, scheduledLr, type OuterConfig } from './outer.ts';
import { DEFAULT_RUN, runSpecOf, validateRunSettings, type RunSettings } from './config.ts';
import { hashParams, initParams, mlpSpec } from './model.ts';
import { runModelHash } from './model-hash.ts';
import { encodeAggregate } from './codec.ts';
import { applyGlobalUpdate, type LocalModel } from './round.ts';

const cosine = (rounds: number, floor: number): OuterConfig => ({ lr: 2, momentum: 0.9, lrSchedule: { kind: 'cosine', rounds, floor } });

test('without a schedule, or with constant, the outer lr is lr every round', () => {
  for (const cfg of [
    { lr: 2, momentum: 0.6 },
    { lr: 2, momentum: 0.6, lrSchedule: { kind: 'constant' as const, rounds: 10, floor: 0 } },
  ])
    for (const r of [0, 1, 9, 10, 1000]) assert.equal(outerLrAt(cfg, r), 2);
});

test('cosine: lr at round 0, half-way at rounds/2, floor·lr from `rounds` on, decreasing in between', () => {
  const cfg = cosine(100, 0.1);
  assert.equal(outerLrAt(cfg, 0), 2);
  assert.ok(Math.abs(outerLrAt(cfg, 50) - 2 * (0.1 + 0.9 * 0.5)) < 1e-12);
  assert.ok(Math.abs(outerLrAt(cfg, 25) - 2 * (0.1 + 0.9 * 0.5 * (1 + Math.SQRT1_2))) < 1e-12);
  assert.ok(Math.abs(outerLrAt(cfg, 100) - 0.2) < 1e-12);
  assert.equal(outerLrAt(cfg, 250), outerLrAt(cfg, 100));
  for (let r = 1; r <= 100; r++) assert.ok(outerLrAt(cfg, r) < outerLrAt(cfg, r - 1), `round ${r}`);
  // Within an ulp or so of Math.cos everywhere, without depending on it.
  for (let r = 0; r <= 100; r++) assert.ok(Math.abs(outerLrAt(cfg, r) - 2 * (0.1 + 0.45 * (1 + Math.cos((Math.PI * r) / 100)))) < 1e-14, `round ${r}`);
});

test('scheduledLr is the schedule outerLrAt follows, for any base lr (the inner lr schedule of e2e/sim.ts)', () => {
  const s = { kind: 'cosine' as const, rounds: 40, floor: 0.1 };
  for (const r of [0, 7, 20, 39, 40, 41]) assert.equal(scheduledLr(2, s, r), outerLrAt({ lr: 2, momentum: 0, lrSchedule: s }, r));
  assert.equal(scheduledLr(0.006, s, 0), 0.006);
  assert.ok(Math.abs(scheduledLr(0.006, s, 40) - 0.0006) < 1e-15);
  assert.equal(scheduledLr(0.003, undefined, 17), 0.003);
});

test('the scheduled step uses the round’s lr, and replaying the rounds reaches the same bytes', () => {
  const g = (r: number) => Float32Array.from({ length: 64 }, (_, i) => Math.sin(r * 7 + i) * 0.01);
  const replay = () => {
    const p = Float32Array.from({ length: 64 }, (_, i) => i / 64);
    const m = new Float32Array(64);
    for (let r = 0; r < 30; r++) applyOuterStep(p, m, g(r), cosine(20, 0), r);
    return hashParams(p);
  };
  assert.equal(replay(), replay());
  // After `rounds` with floor 0 the lr is 0: the parameters stop moving, the momentum does not.
  const p = Float32Array.of(1);
  const m = Float32Array.of(0);
  applyOuterStep(p, m, Float32Array.of(0.5), cosine(20, 0), 20);
  assert.deepEqual([p[0], m[0]], [1, 0.5]);
  // Round 0 of a schedule is the unscheduled step.
  const [a, b] = [Float32Array.of(1), Float32Array.of(1)];
  applyOuterStep(a, new Float32Array(1), Float32Array.of(0.5), cosine(20, 0), 0);
  applyOuterStep(b, new Float32Array(1), Float32Array.of(0.5), { lr: 2, momentum: 0.9 });
  assert.equal(a[0], b[0]);
});

test('a bad outer.lrSchedule is refused naming its field', () => {
  const withSchedule = (lrSchedule: unknown) => ({ ...DEFAULT_RUN, outer: { ...DEFAULT_RUN.outer, lrSchedule } }) as typeof DEFAULT_RUN;
  assert.doesNotThrow(() => validateRunSettings(DEFAULT_RUN));
  assert.doesNotThrow(() => validateRunSettings(withSchedule({ kind: 'cosine', rounds: 180, floor: 0.1 })));
  assert.throws(
    () => validateRunSettings(withSchedule({ kind: 'linear', rounds: 180, floor: 0.1 })),
    /^Error: run\.outer\.lrSchedule\.kind: expected one of constant, cosine, got "linear"$/,
  );
  assert.throws(
    () => validateRunSettings(withSchedule({ kind: 'cosine', rounds: 0, floor: 0.1 })),
    /^Error: run\.outer\.lrSchedule\.rounds: expected an integer/,
  );
  assert.throws(() => validateRunSettings(withSchedule({ kind: 'cosine', rounds: 2.5, floor: 0.1 })), /^Error: run\.outer\.lrSchedule\.rounds: /);
  assert.throws(
    () => validateRunSettings(withSchedule({ kind: 'cosine', rounds: 180, floor: 1.5 })),
    /^Error: run\.outer\.lrSchedule\.floor: expected a number in \[0, 1\], got 1\.5$/,
  );
  assert.throws(() => validateRunSettings(withSchedule({ kind: 'cosine', rounds: 180 })), /run\.outer\.lrSchedule\.floor: .*got undefined/);
  assert.throws(() => validateRunSettings(withSchedule('cosine')), /^Error: run\.outer\.lrSchedule: expected an object, got "cosine"$/);
});

test('a peer applying published updates under a scheduled run reaches the coordinator’s hashes, which the schedule changes', async () => {
  const specOf = (outer: RunSettings['outer']) =>
    runSpecOf(3, { ...DEFAULT_RUN, sizes: [12, 6, 4], outer }, { name: 'mnist', trainCount: 10, testCount: 10, features: 12, classes: 4 });
  const scheduled = specOf({ lr: 2, momentum: 0.9, lrSchedule: { kind: 'cosine', rounds: 4, floor: 0 } });
  const constant = specOf({ lr: 2, momentum: 0.9 });
  const g = (r: number) => Float32Array.from({ length: scheduled.paramCount }, (_, i) => Math.sin(r + i) * 0.01);
  const frame = (r: number) =>
    encodeAggregate(g(r), scheduled.codec.chunkSize, { paramTableHash: scheduled.paramTableHash, run: scheduled.id, round: r, samples: 64 });
  const chains = async (run: typeof scheduled) => {
    // The coordinator's replay (engine, validator): the outer step with the round number.
    const params = initParams(mlpSpec(run.sizes), run.seed);
    const momentum = new Float32Array(params.length);
    let peer: LocalModel = {
      run: run.id,
      paramTableHash: run.paramTableHash,
      round: 0,
      modelHash: hashParams(params),
      params: params.slice(),
      momentum: momentum.slice(),
    };
    const coordinator: string[] = [];
    const peers: string[] = [];
    for (let r = 0; r < 6; r++) {
      applyOuterStep(params, momentum, g(r), run.outer, r);
      peer = await applyGlobalUpdate(peer, frame(r), run);
      coordinator.push(await runModelHash(run, params));
      peers.push(peer.modelHash);
    }
    return { coordinator, peers };
  };
  const s = await chains(scheduled);
  const c = await chains(constant);
  assert.deepEqual(s.peers, s.coordinator);
  assert.deepEqual(c.peers, c.coordinator);
  assert.equal(s.peers[0], c.peers[0], 'round 0 takes the full lr either way');
  for (let r = 1; r < 6; r++) assert.notEqual(s.peers[r], c.peers[r], `round ${r}`);
});
