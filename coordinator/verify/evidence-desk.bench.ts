// `nice -n 19 npx tsx coordinator/verify/evidence-desk.bench.ts`
//
// The evidence desk taking one gpt-small upload with both residuals in full (10,935,552 values
// each, 87.9 MB: what a broken chain asked before issue 16's chunk check, and what a full
// re-execution still asks), its hashes computed in place on the event loop against on the round
// engine's upload thread; the longest event-loop block while it is checked, measured with a 5 ms
// interval's longest gap.
import type { Address } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import { hashFrame } from '../../shared/codec.ts';
import { GPT_SMALL, gptSpec } from '../../shared/model.ts';
import { encodeEvidence, residualCommitment } from '../../shared/wire/index.ts';
import type { VerifiableContribution } from '../db/index.ts';
import { UploadThread } from '../round/index.ts';
import { EvidenceDesk } from './evidence-desk.ts';

const paramCount = gptSpec(GPT_SMALL).paramCount;
// The upload thread reads only the parameter count for evidence.
const thread = new UploadThread({ paramCount } as RunSpec);
const residual = (phase: number) => Float32Array.from({ length: paramCount }, (_, i) => (i % 97 === 0 ? Math.sin(i + phase) : 0));
const before = residual(0);
const after = residual(1);
const frame = new Uint8Array(400_000).fill(7);
const body = encodeEvidence({ before, after, frame });
const account = `0x${'09'.repeat(20)}` as Address;
const c = {
  ...{ id: 1, round: 3, cohort: 0, account, samples: 32, steps: 4, device: null },
  ...{ frameHash: hashFrame(frame), residualHash: residualCommitment(before, after), state: 'accepted', verification: 'sampled' },
} as VerifiableContribution;
await thread.evidenceDigests(new Uint8Array([0])).catch(() => {}); // the thread loaded
for (const where of ['event loop', 'upload thread'] as const) {
  const desk =
    where === 'event loop'
      ? new EvidenceDesk(paramCount, 600_000)
      : new EvidenceDesk(
          paramCount,
          600_000,
          Date.now,
          () => {},
          (b) => thread.evidenceDigests(b),
        );
  const got = desk.source(() => true)(c, { before: true, after: true, leaves: [] });
  let last = performance.now();
  let longest = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  await desk.submit(3, account, body);
  if (!(await got)) throw new Error('the desk did not answer its request');
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  console.log(`${where}: ${paramCount} params, upload ${body.byteLength} B, checked in ${ms.toFixed(0)} ms, longest event-loop block ${longest.toFixed(0)} ms`);
}
thread.stop();
