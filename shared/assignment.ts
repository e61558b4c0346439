// Data assignment: which training samples a volunteer uses in a round. Derived from
// public values only (run seed, round, account) so a validator can redo the work.
import { hexToBytes, toBytes, type Hex } from 'viem';
import { keccak256 } from './keccak.ts';
import { createRng } from './rng.ts';

export function assignmentSeed(runSeed: number, round: number, account: Hex): number {
  const h = hexToBytes(keccak256(toBytes(`${runSeed}:${round}:${account.toLowerCase()}`)));
  return ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
}

/** steps × batch sample indices (step-major), uniform over [0, trainCount). */
export function assignmentIndices(seed: number, steps: number, batch: number, trainCount: number): Uint32Array {
  const rand = createRng(seed);
  const out = new Uint32Array(steps * batch);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * trainCount);
  return out;
}
