import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alieZ, attackUpdate, ATTACKS, isAttack, type AttackContext } from './attacks.ts';
import { decodeFrame, encodeUpdate, frameLimits } from './codec.ts';

const codec = { density: 0.1, bits: 4 as const, chunkSize: 64 };
const pth = ('0x' + '11'.repeat(32)) as `0x${string}`;
const args = { paramTableHash: pth, run: 1, round: 0, samples: 10 };
const limits = frameLimits({ paramTableHash: pth, paramCount: 100, run: 1, codec, maxSamples: 10, round: 0 });

function ctx(attack: AttackContext['attack'], over: Partial<AttackContext> = {}): AttackContext {
  const honest = [Float32Array.from({ length: 100 }, (_, i) => i / 100), Float32Array.from({ length: 100 }, (_, i) => i / 50)];
  return {
    attack,
    index: 0,
    members: 5,
    attackers: 2,
    paramCount: 100,
    seed: 7,
    honest,
    honestFrames: honest.map((h) => encodeUpdate(h, codec, args).bytes),
    train: () => Float32Array.from({ length: 100 }, () => 1),
    memory: new Map(),
    ...over,
  };
}

test('attacks: every named attack produces an update; names are checked', () => {
  for (const a of ATTACKS) assert.ok(attackUpdate(ctx(a)));
  assert.ok(isAttack('alie') && !isAttack('ALIE') && !isAttack('drop'));
});

test('attacks: ALIE z is at least 1 and grows with the attacker share', () => {
  assert.ok(alieZ(10, 1) >= 1);
  assert.ok(alieZ(100, 40) > alieZ(100, 10));
});

test('attacks: the directed attacks point against the honest mean', () => {
  const c = ctx('ipm');
  const out = attackUpdate(c);
  assert.equal(out.kind, 'vector');
  if (out.kind !== 'vector') return;
  const dot = out.v.reduce((s, x, i) => s + x * (c.honest[0][i] + c.honest[1][i]), 0);
  assert.ok(dot < 0, `ipm · mean = ${dot}`);
  const flip = attackUpdate(ctx('sign-flip'));
  assert.ok(flip.kind === 'vector' && flip.v.every((x) => x === -4));
});

test('attacks: a NaN frame is refused on decode; copycat replays an honest frame; lazy replays one stale update', () => {
  const nan = attackUpdate(ctx('nan'));
  assert.ok(nan.kind === 'vector' && nan.corrupt);
  const bytes = encodeUpdate(nan.v, codec, args).bytes;
  decodeFrame(bytes, limits);
  nan.corrupt(bytes);
  assert.throws(() => decodeFrame(bytes, limits), /scale|finite|NaN/i);

  const c = ctx('copycat', { index: 1 });
  const copy = attackUpdate(c);
  assert.ok(copy.kind === 'frame');
  assert.deepEqual(copy.bytes, c.honestFrames[1]);

  const memory = new Map();
  const odd = () => attackUpdate(ctx('lazy', { index: 1, memory }));
  const first = odd();
  const second = odd();
  assert.ok(first.kind === 'vector' && second.kind === 'vector' && first.v === second.v);
  const even = attackUpdate(ctx('lazy', { index: 0 }));
  assert.ok(even.kind === 'vector' && even.v.every((x) => x === 0));
});
