// The evidence desk (DESIGN.md step 8): where a sampled member's evidence upload meets the
// spot check waiting for it.
import type { Address } from 'viem';
import { hashFrame } from '../../shared/codec.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { decodeEvidence, meetsNeeds, residualCommitment, type EvidenceNeeds, type EvidenceUpload } from '../../shared/wire/index.ts';
import type { VerifiableContribution } from '../db/index.ts';
import type { EvidenceSource } from './validator.ts';

/**
 * Collects evidence uploads for sampled contributions. `source(ask)` is the validator's
 * EvidenceSource: it asks the member (a `verify` message naming the residuals it needs in
 * full) and waits up to the timeout. Uploads are checked against the signed frame hash and
 * the committed residual hash before they count, so nobody can answer for someone else, and
 * must hold what was asked for; a wrong upload is refused and the request keeps waiting for
 * the right one.
 */
const ASK_RETRY_MS = 1000;

export class EvidenceDesk {
  private readonly waiting = new Map<string, { c: VerifiableContribution; needs: EvidenceNeeds; resolve: (e: EvidenceUpload | null) => void }>();

  constructor(
    private readonly paramCount: number,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  source(ask: (c: VerifiableContribution, deadline: number, needs: EvidenceNeeds) => boolean): EvidenceSource {
    return (c, needs) =>
      new Promise((resolve) => {
        const key = `${c.round}:${c.account}`;
        const deadline = this.now() + this.timeoutMs;
        const timer = setTimeout(() => finish(null), this.timeoutMs);
        // A member that is not connected (a reload, a coordinator restart) is asked again
        // once a second until the deadline.
        let retry: NodeJS.Timeout | undefined;
        const tryAsk = () => {
          if (!ask(c, deadline, needs)) retry = setTimeout(tryAsk, ASK_RETRY_MS);
        };
        const finish = (e: EvidenceUpload | null) => {
          clearTimeout(timer);
          clearTimeout(retry);
          this.waiting.delete(key);
          resolve(e);
        };
        this.waiting.set(key, { c, needs, resolve: finish });
        tryAsk();
      });
  }

  /** An upload for (round, account). Throws a named error when nothing waits for it or it does not match the commitments. */
  submit(round: number, account: Address, body: Uint8Array): void {
    const w = this.waiting.get(`${round}:${account.toLowerCase()}`);
    if (!w) throw new IdlegradError('NOT_FOUND', `no spot check of ${account} in round ${round} is waiting for evidence`);
    const e = decodeEvidence(body, this.paramCount);
    if (hashFrame(e.frame) !== w.c.frameHash.toLowerCase()) throw new IdlegradError('BAD_FRAME', 'evidence frame does not hash to the signed frameHash');
    if (!w.c.residualHash || residualCommitment(e.before, e.after) !== w.c.residualHash.toLowerCase()) {
      throw new IdlegradError('BAD_FRAME', 'evidence residuals do not hash to the committed residualHash');
    }
    if (!meetsNeeds(e, w.needs))
      throw new IdlegradError(
        'BAD_FRAME',
        `the validator asked for ${[w.needs.before && 'the residual before', w.needs.after && 'the residual after'].filter(Boolean).join(' and ')} in full`,
      );
    w.resolve(e);
  }
}
