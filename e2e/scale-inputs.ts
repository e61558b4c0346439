// The synthetic round inputs of `npm run load` (e2e/load-client.ts) and `npm run scale`
// (e2e/scale-run.ts): what a real round carries, built at a cost that is the harness's, not the
// system's. A cohort's aggregate holds ≈ 1 − (1 − ρ)^k of the parameters at fp32 (k members
// together), a relay member's own frame ρ; each is a run-wide direction plus noise on a random
// support, as honest updates are, encoded with the real codec. The coordinator sees the frame
// bytes only: how they were computed does not change its work.
import jsSha3 from 'js-sha3';
import { keccak256, type Address, type Hex } from 'viem';
import type { RunSpec } from '../shared/config.ts';
import { createRng, gaussian } from '../shared/rng.ts';
import { hashFrame } from '../shared/codec.ts';
import { FRAME_HEADER } from '../shared/wire/frame.ts';
import type { Contribution } from '../shared/eip712.ts';

/**
 * A generator of sparse updates of density d: each coordinate kept with probability d
 * (geometric skips: O(d·P), not O(P)), the direction plus as much noise. Returns the same
 * buffer each call, and how many coordinates it kept.
 */
export function sparseUpdates(run: RunSpec, seed: number): (density: number) => { dense: Float32Array; kept: number } {
  const rand = createRng(seed);
  // One direction for every caller of a run (seed 17), the noise from `seed`.
  const common = createRng(17);
  const direction = Float32Array.from({ length: run.paramCount }, () => gaussian(common) * 1e-3);
  const dense = new Float32Array(run.paramCount);
  const skip = (d: number) => Math.floor(Math.log(1 - rand()) / Math.log(1 - d));
  return (d) => {
    dense.fill(0);
    let kept = 0;
    for (let i = skip(d); i < dense.length; i += 1 + skip(d)) {
      dense[i] = direction[i] + gaussian(rand) * 1e-3;
      kept++;
    }
    return { dense, kept };
  };
}

/** The members in relay mode: a `share` of a cohort's seats (at most all but two, so a quorum remains), the first ones. */
export function relayMembersOf(members: readonly { address: Address }[], share: number): Address[] {
  return members.slice(0, Math.min(Math.max(0, members.length - 2), Math.round(share * members.length))).map((m) => m.address);
}

/** A member's frame hash in a synthetic round (no member frame exists: only its hash is signed). */
export const syntheticFrameHash = (address: Address, round: number): Hex => keccak256(new TextEncoder().encode(`${address}:${round}`));

/** A synthetic member's report: the claims a no-compute client signs. */
export function syntheticContribution(
  run: RunSpec,
  c: Pick<Contribution, 'round' | 'cohort' | 'frameHash' | 'aggregateHash' | 'framesRoot' | 'nonce' | 'expiry'> & { address: Address; samples: number },
): Contribution {
  return {
    run: run.id,
    round: c.round,
    cohort: c.cohort,
    frameHash: c.frameHash,
    aggregateHash: c.aggregateHash,
    framesRoot: c.framesRoot,
    residualHash: keccak256(new TextEncoder().encode(`residual:${c.address}:${c.round}`)),
    samples: c.samples,
    steps: run.inner.steps,
    lossBeforeMicro: 2_300_000,
    lossAfterMicro: 2_200_000,
    computeMs: 1000,
    nonce: c.nonce,
    expiry: c.expiry,
    partner: '',
  };
}

/**
 * An encoded frame for another round: the same bytes with the header's round replaced (a
 * harness encodes each aggregate once and re-stamps it per round instead of re-encoding).
 */
export function frameForRound(base: Uint8Array, round: number): Uint8Array {
  const bytes = base.slice();
  new DataView(bytes.buffer).setUint32(FRAME_HEADER.at.round, round, true);
  return bytes;
}

/** hashFrame (keccak-256 of the bytes) with js-sha3, about 4× faster than viem's; checked against hashFrame on first use. */
let checked = false;
export function fastFrameHash(bytes: Uint8Array): Hex {
  const hash = `0x${jsSha3.keccak256(bytes)}` as Hex;
  if (!checked) {
    if (hash !== hashFrame(bytes)) throw new Error(`fastFrameHash: js-sha3 gives ${hash}, hashFrame ${hashFrame(bytes)}`);
    checked = true;
  }
  return hash;
}

/** Values kept in an encoded frame (its header's totalK): the frame's own count of nonzeros. */
export const keptIn = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(FRAME_HEADER.at.totalK, true);

/**
 * Runs `fn` over `items` with at most `lanes` calls in flight at once, in order of the items,
 * and resolves when every call has (rejects with the first failure). A harness hands a round's
 * worth of requests to the coordinator as many sessions would, not one after another: one at a
 * time, each request waits for the threads it crosses (signature recovery, the ledger) to wake
 * up, and on a loaded machine those wake-ups, not the work, set the harness's wall time.
 */
export async function inLanes<T>(items: readonly T[], lanes: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  if (!Number.isInteger(lanes) || lanes < 1) throw new Error(`inLanes: lanes must be an integer ≥ 1, got ${lanes}`);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
}
