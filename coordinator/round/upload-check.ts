// What RoundEngine checks of an uploaded cohort aggregate (or a relay member's own frame) before
// the round may hold it: the frame decodes under the round's aggregate limits, is an aggregate
// frame, claims no more samples than a full cohort can train; and its hash. Pure: the engine
// runs it on the upload thread (upload-thread.ts), or in place when that thread cannot run.
import type { Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import { maxSamplesPerReport } from '../../shared/config.ts';
import { decodeFrame, hashFrame, type DecodedFrame } from '../../shared/codec.ts';
import { aggregateLimits } from '../../shared/round.ts';
import { FrameKind } from '../../shared/wire/index.ts';
import { IdlegradError } from '../../shared/errors.ts';

/** `hash` is hashFrame or a function that returns what it returns (the upload thread's wasmFrameHasher). */
export function checkAggregate(
  run: RunSpec,
  round: number,
  bytes: Uint8Array,
  hash: (bytes: Uint8Array) => Hex = hashFrame,
): { hash: Hex; frame: DecodedFrame } {
  const frame = decodeFrame(bytes, aggregateLimits(run, round));
  if (frame.header.kind !== FrameKind.aggregate)
    throw new IdlegradError('BAD_FRAME', `aggregate uploads must be aggregate frames (kind ${FrameKind.aggregate})`);
  if (frame.header.samples > maxSamplesPerReport(run) * run.cohortSize) {
    throw new IdlegradError('LIMIT_EXCEEDED', `aggregate claims ${frame.header.samples} samples, more than a full cohort can train`);
  }
  return { hash: hash(bytes), frame };
}
