// The page's evidence keeper: the report's residual commitment builds the trees once and keeps
// them, the next round reuses the previous after-tree when its residual before holds the same
// bits (and not when it changed), and an answer opens from the kept trees what the commitment names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { createRng } from '../../../../shared/rng.ts';
import { decodeEvidence, residualCommitment, residualRoot, sameBits, ResidualTree, RESIDUAL_LEAF } from '../../../../shared/wire/index.ts';
import { EvidenceKeeper, type Evidence, type VerifyMessage } from './evidence.ts';
import type { SnapshotStore } from '../snapshot.ts';

const N = 9 * RESIDUAL_LEAF + 7;
const residual = (seed: number) => {
  const rand = createRng(seed);
  return Float32Array.from({ length: N }, () => rand() - 0.5);
};
const hashOf = (round: number) => `0x${round.toString(16).padStart(64, '0')}` as Hex;
const evidence = (round: number, before: Float32Array, after: Float32Array): Evidence => ({
  run: 1,
  round,
  frame: new Uint8Array([round, 1, 2]),
  before,
  after,
});

test('sameBits compares float32 bits: -0 and 0 differ, a NaN equals itself, lengths must match', () => {
  assert.ok(sameBits(Float32Array.of(1, NaN), Float32Array.of(1, NaN)));
  assert.equal(sameBits(Float32Array.of(0), Float32Array.of(-0)), false);
  assert.equal(sameBits(Float32Array.of(1), Float32Array.of(1, 2)), false);
});

test("the commitment keeps the residuals' trees; the next round reuses the after-tree only for the same bits", async () => {
  const keeper = new EvidenceKeeper();
  const logs: string[] = [];
  const log = (_: 'info', text: string) => logs.push(text);
  const zeros = new Float32Array(N);
  const a = residual(1);
  const r0 = keeper.keep(hashOf(0), evidence(0, zeros, a));
  assert.equal(await keeper.commitment(r0, log), residualCommitment(zeros, a));
  assert.equal(r0.trees?.before.root, residualRoot(zeros));
  assert.match(logs[0], /both hashed/);

  // Round 1 starts from a copy of round 0's e' (the worker hands back a new array): the kept
  // after-tree and its array serve as round 1's before.
  const b = residual(2);
  const r1 = keeper.keep(hashOf(1), evidence(1, a.slice(), b));
  assert.equal(await keeper.commitment(r1, log), residualCommitment(a, b));
  assert.equal(r1.before, r0.after);
  assert.equal(r1.trees?.before, r0.trees?.after);
  assert.match(logs[1], /round 0's after: its tree kept/);

  // Round 2 starts from b with one value given back: not round 1's e', so its tree is built anew.
  const changed = b.slice();
  changed[5 * RESIDUAL_LEAF] += 0.25;
  const c = residual(3);
  const r2 = keeper.keep(hashOf(2), evidence(2, changed, c));
  assert.equal(await keeper.commitment(r2, log), residualCommitment(changed, c));
  assert.notEqual(r2.trees?.before, r1.trees?.after);
  assert.equal(r2.trees?.before.values, changed);
  assert.match(logs[2], /both hashed/);
});

test('with a worker, the commitment hashes off the main thread: the same trees and hash, each built over the kept array', async () => {
  const keeper = new EvidenceKeeper();
  const sent: Float32Array[] = [];
  // The trainer's worker: ResidualTree.levelsOf over the copy it is handed (a real worker transfers it).
  const levelsOf = async (values: Float32Array) => (sent.push(values), ResidualTree.levelsOf(values));
  const logs: string[] = [];
  const before = residual(11);
  const after = residual(12);
  const ev = keeper.keep(hashOf(0), evidence(0, before, after));
  assert.equal(await keeper.commitment(ev, (_, text) => logs.push(text), levelsOf), residualCommitment(before, after));
  assert.equal(sent.length, 2, 'both residuals hashed on the worker');
  assert.ok(
    sent.every((v) => v !== before && v !== after),
    'the worker gets copies: the kept arrays stay on the page',
  );
  assert.equal(ev.trees?.before.values, before);
  assert.equal(ev.trees?.after.root, ResidualTree.build(after).root);
  assert.ok(ev.trees?.after.serves(after, [0, 3, 9]));
  assert.match(logs[0], /on the training worker \(both hashed\)/);
  // Levels of other values are refused, naming why.
  const wrong = async () => ResidualTree.levelsOf(residual(13));
  await assert.rejects(keeper.commitment(keeper.keep(hashOf(1), evidence(1, residual(14), residual(15))), undefined, wrong), /not computed over these values/);
});

test('an answer opens the asked leaves from the kept trees, and they prove the committed residual hash', async () => {
  const keeper = new EvidenceKeeper();
  const before = residual(4);
  const after = residual(5);
  const ev = keeper.keep(hashOf(7), evidence(7, before, after));
  const committed = await keeper.commitment(ev);
  // Changed where the validator does not look: only the kept tree still proves the committed
  // root (a tree built at the answer would prove the changed residual's).
  ev.after[5 * RESIDUAL_LEAF] += 1;
  const bodies: Uint8Array[] = [];
  const logs: string[] = [];
  const store = { log: (_: string, text: string) => logs.push(text) } as unknown as SnapshotStore;
  const m = {
    type: 'verify',
    run: 1,
    round: 7,
    frameHash: hashOf(7),
    serverTime: Date.now(),
    needs: { before: false, after: false, leaves: [0, 3, 9] },
  } as unknown as VerifyMessage;
  await keeper.answer(m, {
    store,
    account: () => ({ address: '0x00000000000000000000000000000000000000aa' }),
    api: { postEvidence: async (_run, _round, _address, body) => (bodies.push(body), { ok: true as const }) },
  });
  assert.equal(bodies.length, 1, logs.join('\n'));
  const up = decodeEvidence(bodies[0], N);
  assert.equal(residualCommitment(up.before, up.after), committed);
  assert.match(logs[0], /evidence uploaded/);
});
