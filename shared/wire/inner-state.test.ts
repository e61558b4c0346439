// The inner state section of an evidence upload (shared/wire/inner-state.ts): it round-trips
// through encodeEvidence/decodeEvidence, its digests enter the commitment, and a short or
// malformed body is refused by name before anything is sliced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashFrame } from '../codec.ts';
import {
  decodeEvidence,
  encodeEvidence,
  evidenceDigests,
  innerStateBytes,
  innerStateDigest,
  innerStateProblem,
  momentsDigest,
  residualCommitment,
  stateDigest,
  stateDigests,
  zeroInnerState,
  type InnerStateEvidence,
} from './index.ts';
import { isIdlegradError } from '../errors.ts';

const P = 203;
const state = (t: number): InnerStateEvidence => {
  const before = { m: Float32Array.from({ length: P }, (_, i) => Math.sin(i) * 1e-3), v: Float32Array.from({ length: P }, (_, i) => 1e-6 * (1 + (i % 7))), t };
  return { before, after: { t: t + 10, moments: momentsDigest({ m: before.m.map((x) => x / 2), v: before.v }) } };
};
const e = (k: number) => Float32Array.from({ length: P }, (_, i) => Math.cos(i * k) * 1e-2);
const frame = new Uint8Array([1, 2, 3, 4, 5]);

test('an upload with the inner state round-trips, its digests enter the commitment, and without it the body is as before', () => {
  const s = state(20);
  const body = encodeEvidence({ frame, before: e(1), after: e(2), state: s });
  const plain = encodeEvidence({ frame, before: e(1), after: e(2) });
  assert.equal(body.byteLength - plain.byteLength, innerStateBytes(P));
  assert.equal(innerStateBytes(50_890), 407_160);
  const back = decodeEvidence(body, P);
  assert.deepEqual(back.state, s);
  assert.deepEqual(back.frame, frame);
  assert.equal(decodeEvidence(plain, P).state, undefined);
  const d = evidenceDigests(body, P, hashFrame);
  assert.deepEqual(d.state, stateDigests(s));
  assert.equal(d.residualHash, residualCommitment(e(1), e(2), stateDigests(s)));
  assert.notEqual(d.residualHash, residualCommitment(e(1), e(2)), 'the state is part of the commitment');
  assert.equal(stateDigests(s).before, innerStateDigest(s.before));
  assert.equal(stateDigests(s).after, stateDigest(30, s.after.moments));
  assert.notEqual(stateDigest(31, s.after.moments), stateDigest(30, s.after.moments), 'the step count is bound');
});

test('a body shorter than its state section, or with an unknown mode bit, is refused by name', () => {
  const body = encodeEvidence({ frame, before: e(1), after: e(2), state: state(20) });
  const named = (b: Uint8Array, re: RegExp) =>
    assert.throws(
      () => decodeEvidence(b, P),
      (err: unknown) => isIdlegradError(err) && err.code === 'BAD_FRAME' && re.test(err.message),
    );
  named(body.subarray(0, 1 + 8 * P + 100), /shorter than its inner state \(\d+ bytes needed: the state before of 203 parameters in full/);
  // The section whole but no frame after it.
  named(body.subarray(0, 1 + 8 * P + innerStateBytes(P)), /holds no frame/);
  const bad = body.slice();
  bad[0] |= 0x20;
  named(bad, /modes 0x3\d name unknown parts/);
  // A body for another parameter count: the section does not fit.
  assert.throws(() => decodeEvidence(body, P + 1000), /shorter than/);
});

test('innerStateProblem: zeros at t = 0 are a state, and the problems are named', () => {
  assert.equal(innerStateProblem(zeroInnerState(P), P), null);
  assert.equal(innerStateProblem(state(20).before, P), null);
  assert.match(innerStateProblem(state(20).before, P + 1)!, /holds 203 and 203 moments; the model has 204 parameters/);
  assert.match(innerStateProblem({ ...state(20).before, t: 2 ** 31 }, P)!, /not an integer in \[0, 2147483647\]/);
  assert.match(innerStateProblem({ ...state(0).before }, P)!, /t = 0/);
});
