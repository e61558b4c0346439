// The evidence desk (DESIGN.md step 8): where a sampled member's evidence upload meets the
// spot check waiting for it.
import type { Address, Hex } from 'viem';
import { IdlegradError } from '../../shared/errors.ts';
import { hashFrame } from '../../shared/codec.ts';
import { decodeEvidence, evidenceDigests, meetsNeeds, type EvidenceDigests, type EvidenceNeeds } from '../../shared/wire/index.ts';
import type { CheckedUpload } from './validator.ts';
import type { VerifiableContribution } from '../db/index.ts';
import type { EvidenceSource } from './validator.ts';

/**
 * Collects evidence uploads for sampled contributions. `source(ask)` is the validator's
 * EvidenceSource: it asks the member (a `verify` message naming the residuals it needs in
 * full) and waits up to the timeout. Uploads are checked against the signed frame hash and
 * the committed residual hash before they count, so nobody can answer for someone else, and
 * must hold what was asked for; a wrong upload is refused and the request keeps waiting for
 * the right one. The hashes come from `digests` (the platform passes the round engine's upload
 * thread): a residual uploaded in full is Merkle-hashed whole, seconds of keccak at gpt-small,
 * which on the event loop held the coordinator 4.8–5.9 s after sampled commits (issue 18).
 */
const ASK_RETRY_MS = 1000;

/**
 * The slowest uplink a sampled member is given time for, in bytes a second: 1 MiB/s (8 Mbit/s,
 * under the few tens of Mbit/s of a median home uplink, DESIGN.md "Numbers"). A residual is the
 * model's size, so a fixed window is a constant smaller than the model (issue 18): gpt-small's
 * two residuals in full are 83.4 MiB, 35 s at 20 Mbit/s, where the window was 20 s for any run.
 */
export const EVIDENCE_UPLINK_FLOOR_BYTES_PER_S = 1 << 20;

/**
 * The slowest Merkle hashing of a residual a sampled page is given time for, in bytes a second:
 * 2 MiB/s. A page opens the asked leaves from the trees it built when its report committed to
 * the residuals (shared/wire/evidence.ts ResidualTree), but when the ask comes its main thread may
 * be building the tree of its next report's residual (one: the residual before is the previous
 * round's after, whose tree it keeps), and the answer waits for that. js-sha3's keccak on a page's
 * main thread did 83.4 MiB in 33.0 s (2.5 MiB/s) in the fourth gpt-small swarm at load 20, with
 * SwiftShader on the same 2 cores (README "Presets by size"): the floor sits under that.
 */
export const EVIDENCE_HASH_FLOOR_BYTES_PER_S = 2 << 20;

/**
 * How long a member has to upload: the run's evidenceTimeoutMs, one residual's tree at the
 * hashing floor, and the residuals asked in full and the inner state section (`stateBytes`: run
 * setting inner.state 'kept', shared/wire/inner-state.ts innerStateBytes; else 0) at the uplink
 * floor — all from the run's parameter count, none a constant smaller than the model.
 */
export function evidenceWindowMs(paramCount: number, timeoutMs: number, needs: EvidenceNeeds, stateBytes = 0): number {
  const residualBytes = 4 * paramCount;
  const fullBytes = residualBytes * (Number(needs.before) + Number(needs.after)) + stateBytes;
  return timeoutMs + Math.ceil((1000 * residualBytes) / EVIDENCE_HASH_FLOOR_BYTES_PER_S) + Math.ceil((1000 * fullBytes) / EVIDENCE_UPLINK_FLOOR_BYTES_PER_S);
}

export class EvidenceDesk {
  private readonly waiting = new Map<
    string,
    { c: VerifiableContribution; needs: EvidenceNeeds; askedAt: number; resolve: (e: CheckedUpload | null) => void }
  >();
  /** When each recent request closed unanswered, so that a late upload can say how late it was. */
  private readonly expired = new Map<string, number>();

  constructor(
    private readonly paramCount: number,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
    private readonly log: (line: string) => void = () => {},
    private readonly digests: (body: Uint8Array) => Promise<EvidenceDigests> = async (body) => evidenceDigests(body, paramCount, hashFrame),
    /** Bytes of the inner state section every upload of this run carries (evidenceWindowMs). */
    private readonly stateBytes = 0,
  ) {}

  source(ask: (c: VerifiableContribution, deadline: number, needs: EvidenceNeeds) => boolean): EvidenceSource {
    return (c, needs) =>
      new Promise((resolve) => {
        const key = `${c.round}:${c.account}`;
        const windowMs = evidenceWindowMs(this.paramCount, this.timeoutMs, needs, this.stateBytes);
        const askedAt = this.now();
        const deadline = askedAt + windowMs;
        const timer = setTimeout(() => {
          this.log(`evidence: no upload from ${c.account.slice(0, 10)}… for round ${c.round} within ${windowMs} ms`);
          this.expired.set(key, this.now());
          for (const k of [...this.expired.keys()].slice(0, -64)) this.expired.delete(k);
          finish(null);
        }, windowMs);
        // A member that is not connected (a reload, a coordinator restart) is asked again
        // once a second until the deadline.
        let retry: NodeJS.Timeout | undefined;
        const tryAsk = () => {
          if (!ask(c, deadline, needs)) retry = setTimeout(tryAsk, ASK_RETRY_MS);
        };
        const finish = (e: CheckedUpload | null) => {
          clearTimeout(timer);
          clearTimeout(retry);
          this.waiting.delete(key);
          resolve(e);
        };
        this.waiting.set(key, { c, needs, askedAt, resolve: finish });
        tryAsk();
      });
  }

  /**
   * An upload for (round, account). Rejects with a named error when nothing waits for it, it does
   * not parse, it does not match the commitments or it lacks what was asked; the request then keeps
   * waiting. Nothing is hashed for an upload nobody waits for.
   */
  async submit(round: number, account: Address, body: Uint8Array): Promise<void> {
    const key = `${round}:${account.toLowerCase()}`;
    const w = this.waiting.get(key);
    if (!w) {
      const closedAt = this.expired.get(key);
      const late = closedAt === undefined ? '' : `: its request closed unanswered ${this.now() - closedAt} ms before this upload`;
      if (late) this.log(`evidence: an upload from ${account.slice(0, 10)}… for round ${round} came late${late}`);
      throw new IdlegradError('NOT_FOUND', `no spot check of ${account} in round ${round} is waiting for evidence${late}`);
    }
    const d = await this.digests(body);
    if (d.frameHash !== w.c.frameHash.toLowerCase()) throw new IdlegradError('BAD_FRAME', 'evidence frame does not hash to the signed frameHash');
    if (!w.c.residualHash || d.residualHash !== w.c.residualHash.toLowerCase()) {
      throw new IdlegradError('BAD_FRAME', 'evidence residuals do not hash to the committed residualHash');
    }
    const e = decodeEvidence(body, this.paramCount);
    if (!meetsNeeds(e, w.needs)) {
      const full = [w.needs.before && 'the residual before', w.needs.after && 'the residual after'].filter(Boolean).join(' and ');
      const opened = w.needs.leaves.length ? `the others opened at leaves ${w.needs.leaves.join(', ')}` : '';
      throw new IdlegradError('BAD_FRAME', `the validator asked for ${[full && `${full} in full`, opened].filter(Boolean).join(', ')}`);
    }
    // While this upload was hashed the request may have closed (its window) or been answered.
    if (this.waiting.get(key) !== w)
      throw new IdlegradError('NOT_FOUND', `the spot check of ${account} in round ${round} stopped waiting while its upload was checked`);
    this.log(`evidence: ${body.byteLength} bytes from ${account.slice(0, 10)}… for round ${round}, ${this.now() - w.askedAt} ms after the ask`);
    // The roots the commitment was just checked against travel with it: the check does not hash them again.
    w.resolve({ ...e, beforeDigest: d.beforeDigest, afterDigest: d.afterDigest, ...(d.state ? { stateDigests: d.state } : {}) });
  }
}
