// Which aggregate this page signs after the exchange (DESIGN.md "Agreeing on a cohort's
// aggregate"; the agreement itself is agreement.ts): alone, its own frame in relay mode; in a
// cohort, after relaying, the designated uploader uploads and announces its aggregate, and every
// other member signs the announcement only if it holds exactly those frames and computes the same
// hash (null: it abstains). With no announcement by the deadline a member signs what it holds.
//
// An announcement that leaves this page's own frame out is checked before it is signed: the
// member reruns the in-cohort vote (the uploader's deterministic code, shared/round.ts
// cohortAggregate) over the announced frames plus its own. When that vote keeps its frame the
// omission is the uploader's (a dropped frame, or one it never held), and signing the announced
// set would have the coordinator refuse this member LEFT_OUT, which counts as its own conduct:
// instead the member signs the aggregate of the announced frames and its own (`omitted`). That
// aggregate is never uploaded, so the commit refuses the report AGGREGATE_MISSING (not conduct;
// coordinator/round/decide.ts names the omission), the report still counts among the cohort's
// reporting members for the quorum, and the page keeps its whole update in the residual. When the
// vote refuses its frame (its frame is the outlier), the member signs the announced set as before
// and LEFT_OUT stays the right verdict.
import type { Hex } from 'viem';
import type { RunSpec } from '../../../../shared/config.ts';
import { describeVote, type CohortAggregate } from '../../../../shared/round.ts';
import type { CoordinatorApi } from '../api.ts';
import { describeError } from '../errors.ts';
import type { ExchangeResult } from '../p2p/exchange.ts';
import type { SnapshotStore } from '../snapshot.ts';
import type { Trainer } from '../trainer.ts';
import type { CohortAgreement, HeldFrameBytes } from './agreement.ts';

/** What this page signs after the agreement step (null from settleAggregate: it abstains). */
export interface Settled {
  agg: CohortAggregate;
  /** The aggregate bytes when this page uploads and the upload failed (the outbox retries it). */
  unsentAggregate: Uint8Array | null;
  /** The announcement left our frame out though the vote keeps it: `agg` is the announced frames plus ours, never uploaded. */
  omitted: boolean;
}

export interface SettleContext {
  run: RunSpec;
  round: number;
  exchangeEndsAt: number;
  reportEndsAt: number;
  trainer: Pick<Trainer, 'aggregate'>;
  own: HeldFrameBytes;
  exchanged: ExchangeResult | null;
  agreement: CohortAgreement | null;
  api: Pick<CoordinatorApi, 'postAggregate'>;
  store: Pick<SnapshotStore, 'log' | 'set'>;
  cancelled: () => boolean;
}

export async function settleAggregate(c: SettleContext): Promise<Settled | null> {
  const { run, round, store, agreement, own } = c;
  const aggregateOf = (frames: HeldFrameBytes[]) => c.trainer.aggregate({ run, round, own: frames[0], received: frames.slice(1) });
  const settled = (agg: CohortAggregate, unsentAggregate: Uint8Array | null = null, omitted = false): Settled => ({ agg, unsentAggregate, omitted });
  if (agreement) {
    agreement.hold(own);
    for (const f of c.exchanged?.frames ?? []) agreement.hold({ address: f.address, hash: f.hash, bytes: f.bytes });
    // A link that failed before our frame was handed to it; a live one still delivers it.
    const unsent = (c.exchanged?.peers ?? []).filter((p) => p.status === 'failed' && !p.sentOurs).map((p) => p.address);
    await agreement.relay(own, unsent);
    if (c.cancelled()) return null;
  }
  let agg = await aggregateOf(agreement ? agreement.frames() : [own]);
  if (c.cancelled()) return null;
  const early = agreement?.announcedNow ?? null;
  if (!early && agg.uploader === own.address) {
    store.set({ phase: 'uploading' });
    try {
      const res = await c.api.postAggregate(run.id, round, agg.bytes);
      if (res.aggregateHash?.toLowerCase() !== agg.aggregateHash)
        store.log('warn', `round ${round}: the coordinator hashed our aggregate to ${res.aggregateHash}, we hashed ${agg.aggregateHash}`);
      else
        store.log(
          'info',
          `round ${round}: uploaded the ${agg.relay ? 'relay' : 'cohort'} aggregate (${agg.hashes.length} frame(s), ${agg.bytes.byteLength} bytes)`,
        );
    } catch (e) {
      store.log('error', `round ${round}: aggregate upload failed: ${describeError(e)}`);
      return settled(agg, agg.bytes);
    }
    if (agreement && !agreement.announce(agg.aggregateHash, agg.hashes)) store.log('warn', `round ${round}: could not announce the aggregate (socket down)`);
    return settled(agg);
  }
  if (!agreement) return settled(agg);
  const announced = early ?? (await agreement.announced());
  if (c.cancelled()) return null;
  if (!announced) {
    store.log('warn', `round ${round}: no announcement from the cohort's uploader by the deadline; signing the ${agg.hashes.length} frame(s) held`);
    return settled(agg);
  }
  const frames = await agreement.framesFor(announced, c.reportEndsAt - 0.2 * (c.reportEndsAt - c.exchangeEndsAt));
  if (c.cancelled()) return null;
  if (!frames) {
    store.log('warn', `round ${round}: the announced aggregate names a frame this page never received; abstaining`);
    return null;
  }
  const ownHash = own.hash.toLowerCase() as Hex;
  // An announcement of no frame at all is no cohort's aggregate: nothing to weigh our frame against.
  if (frames.length && !announced.frameHashes.includes(ownHash)) {
    const withOwn = await aggregateOf([own, ...frames]);
    if (c.cancelled()) return null;
    if (withOwn.hashes.includes(ownHash)) {
      store.log(
        'warn',
        `round ${round}: the uploader ${announced.from} announced ${frames.length} frame(s) without ours, but the vote over them and ours keeps it (${describeVote(withOwn)}): signing that aggregate, not the announced one`,
      );
      return settled(withOwn, null, true);
    }
  }
  if (agg.aggregateHash !== announced.aggregateHash && frames.length) agg = await aggregateOf(frames);
  if (agg.aggregateHash !== announced.aggregateHash) {
    store.log('warn', `round ${round}: the announced frames aggregate to ${agg.aggregateHash} here, not ${announced.aggregateHash}; abstaining`);
    return null;
  }
  return settled(agg);
}
