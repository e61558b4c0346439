import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, frameLimits, toDense } from '../../shared/codec.ts';
import { compressUpdate, pseudoGradient, type UpdateHeader } from '../../shared/round.ts';
import type { Trainer, TrainArgs, TrainResult } from '../../web/src/client/trainer.ts';
import { attackDelta, AttackingTrainer, isPageAttack } from './attack.ts';

test('sign-flip sends −4Δ, lazy sends nothing, noise is large and seeded by the round', () => {
  const honest = Float32Array.from([0.1, -0.1, 0, 0.5]);
  attackDelta('sign-flip', honest, 3).forEach((d, i) => assert.ok(Math.abs(d + 4 * honest[i]) < 1e-6, `coordinate ${i}: ${d} vs ${-4 * honest[i]}`));
  assert.deepEqual(Array.from(attackDelta('lazy', honest, 3)), [0, 0, 0, 0]);
  const n1 = attackDelta('noise', honest, 3);
  assert.deepEqual(n1, attackDelta('noise', honest, 3));
  assert.notDeepEqual(n1, attackDelta('noise', honest, 4));
  // Against an honest update of scale 1e-2 per coordinate (the MLP's is smaller still).
  const norm = Math.hypot(...attackDelta('noise', new Float32Array(1000).fill(0.01), 1));
  assert.ok(norm > 10 * Math.hypot(...new Array(1000).fill(0.01)), `noise norm ${norm}`);
});

test('the decorator replaces the worker’s honest frame by the attack’s, on top of the same residual', async () => {
  const n = 512;
  // Lossless codec (every coordinate, fp32) so the frame decodes to v exactly.
  const header: UpdateHeader = { codec: { density: 1, bits: 32, chunkSize: 256 }, paramTableHash: `0x${'11'.repeat(32)}`, run: 3, round: 9 };
  const theta = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const local = theta.map((t, i) => t - 0.01 * Math.cos(i));
  const e = Float32Array.from({ length: n }, (_, i) => 0.001 * ((i % 7) - 3));
  const honestWorker = {
    async train(args: TrainArgs): Promise<TrainResult> {
      const own = compressUpdate(args.update, pseudoGradient(args.params, local, args.residual), 96);
      const r = { frame: own.bytes, frameHash: own.hash, residual: own.residual, residualBefore: args.residual, losses: { before: 2, after: 1, mean: 1.5 } };
      return { ...r, steps: 3, samples: 96, gpuMs: 1, device: 'gpu', busyMs: 1, wallMs: 1 };
    },
  } as unknown as Trainer;
  const args = (): TrainArgs => ({
    params: theta.slice(),
    batches: new Uint32Array(96),
    steps: 3,
    adamw: {} as TrainArgs['adamw'],
    residual: e.slice(),
    update: header,
  });
  const limits = frameLimits({ ...header, paramCount: n, maxSamples: 0xffffffff });
  const honest = toDense(decodeFrame((await honestWorker.train(args())).frame, limits));
  const flipped = await new AttackingTrainer(honestWorker, 'sign-flip').train(args());
  const sent = toDense(decodeFrame(flipped.frame, limits));
  for (let i = 0; i < n; i++) {
    const delta = honest[i] - e[i];
    assert.ok(Math.abs(sent[i] - (-4 * delta + e[i])) < 1e-6, `coordinate ${i}: ${sent[i]} vs ${-4 * delta + e[i]}`);
  }
  assert.deepEqual(flipped.residualBefore, e);
  const lazy = await new AttackingTrainer(honestWorker, 'lazy').train(args());
  assert.deepEqual(toDense(decodeFrame(lazy.frame, limits)), e, 'lazy: the frame carries only the old residual');
});

test('only the page attacks are recognised', () => {
  assert.ok(isPageAttack('sign-flip'));
  assert.ok(!isPageAttack('alie'));
  assert.ok(!isPageAttack(undefined));
});
