// What a validator may ask of this page (DESIGN.md step 8): for the last few rounds, each own
// frame with the error-feedback residuals it was built between and their Merkle trees (built
// once, when the report commits to them: `commitment`), and the upload when the validator
// samples one, opened from the kept trees, and, when the run keeps the inner AdamW state, that state
// before the round in full and after it as its digest (shared/wire/inner-state.ts). Memory only:
// after a reload a sampled contribution cannot be evidenced and is rejected as withheld.
import type { Address, Hex } from 'viem';
import {
  encodeEvidence,
  residualCommitment,
  ResidualTree,
  sameBits,
  stateDigests,
  uploadFor,
  type InnerStateEvidence,
  type ServerMessage,
} from '../../../../shared/wire/index.ts';
import type { CoordinatorApi } from '../api.ts';
import { describeError } from '../errors.ts';
import type { SnapshotStore } from '../snapshot.ts';

export type VerifyMessage = Extract<ServerMessage, { type: 'verify' }>;

/** Rounds of spot-check evidence a page keeps (a validator asks within seconds of a commit). */
export const EVIDENCE_ROUNDS_KEPT = 4;
/**
 * Rounds a validator asked for that a page keeps besides: it may ask again for a residual in
 * full when its check runs, behind a backlog (coordinator/verify/validator.ts).
 */
export const EVIDENCE_ASKED_KEPT = 4;

/** What a validator may ask for: the frame and the error-feedback residuals before and after it. */
export interface Evidence {
  run: number;
  round: number;
  frame: Uint8Array;
  before: Float32Array;
  after: Float32Array;
  /** The residuals' trees, from the report's commitment on (EvidenceKeeper.commitment). */
  trees?: { before: ResidualTree; after: ResidualTree };
  /** The inner AdamW state before the round and the digest of the one after (run setting inner.state 'kept'). */
  state?: InnerStateEvidence;
}

export class EvidenceKeeper {
  /** By own frame hash (lower case), the last EVIDENCE_ROUNDS_KEPT rounds. */
  private readonly recent = new Map<string, Evidence>();
  /** Evidence a validator asked for, kept after it leaves `recent` (the newest EVIDENCE_ASKED_KEPT). */
  private readonly asked = new Map<string, Evidence>();

  keep(frameHash: Hex, ev: Evidence): Evidence {
    this.recent.set(frameHash.toLowerCase(), ev);
    for (const k of [...this.recent.keys()].slice(0, -EVIDENCE_ROUNDS_KEPT)) this.recent.delete(k);
    return ev;
  }

  /**
   * The report's residualHash for kept evidence: builds both residuals' trees and keeps them with
   * it, so that an opening later reads them instead of rehashing. The residual before a round is
   * usually the one after the previous round (its frame went into an aggregate and nothing was
   * given back): then the previous round's after-tree, and its array, serve (checked bit for bit).
   * With `levelsOf` (the trainer's worker: ResidualTree.levelsOf over a copy) the hashing runs off
   * the main thread: seconds a tree at gpt-small's 10.9 M values, during which the page's PeerJS
   * heartbeat and sockets would otherwise wait (issue 18). Without it, here.
   */
  async commitment(ev: Evidence, log?: (level: 'info', text: string) => void, levelsOf?: (values: Float32Array) => Promise<Uint8Array[]>): Promise<Hex> {
    const started = performance.now();
    const prev = [...this.recent.values(), ...this.asked.values()].find((p) => p !== ev && p.trees && sameBits(p.after, ev.before));
    if (prev?.trees) ev.before = prev.after;
    const tree = async (e: Float32Array) => (levelsOf ? ResidualTree.over(e, await levelsOf(e.slice())) : ResidualTree.build(e));
    const [before, after] = await Promise.all([prev?.trees?.after ?? tree(ev.before), tree(ev.after)]);
    ev.trees = { before, after };
    log?.(
      'info',
      `round ${ev.round}: residual trees built in ${(performance.now() - started).toFixed(0)} ms ${levelsOf ? 'on the training worker' : 'on the main thread'} (${prev ? 'the residual before is round ' + prev.round + "'s after: its tree kept" : 'both hashed'})`,
    );
    return residualCommitment(before.root, after.root, ev.state && stateDigests(ev.state));
  }

  get(frameHash: Hex): Evidence | undefined {
    const hash = frameHash.toLowerCase();
    return this.recent.get(hash) ?? this.asked.get(hash);
  }

  /** Uploads the evidence of a sampled frame: in full what the validator asked for, the rest as digests. */
  async answer(
    m: VerifyMessage,
    o: { store: SnapshotStore; account: () => { address: Address } | null; api: Pick<CoordinatorApi, 'postEvidence'> },
  ): Promise<void> {
    const { store } = o;
    const ev = this.get(m.frameHash);
    const key = o.account();
    if (!ev || !key) {
      store.log('warn', `round ${m.round}: the validator sampled frame ${m.frameHash.slice(0, 10)}…, but this page no longer holds its evidence (reloaded?)`);
      return;
    }
    const hash = m.frameHash.toLowerCase();
    this.asked.delete(hash);
    this.asked.set(hash, ev);
    for (const k of [...this.asked.keys()].slice(0, -EVIDENCE_ASKED_KEPT)) this.asked.delete(k);
    // A residual the validator did not ask for travels as its digest (it holds the residual).
    // How long after the ask this page got to it (by its own clock against the server's stamp).
    const lateMs = Date.now() - m.serverTime;
    const started = performance.now();
    const body = encodeEvidence(uploadFor({ frame: ev.frame, residualBefore: ev.before, residualAfter: ev.after, state: ev.state }, m.needs, ev.trees));
    const encodedMs = performance.now() - started;
    try {
      await o.api.postEvidence(m.run, m.round, key.address, body);
      const ms = performance.now() - started;
      store.log(
        'info',
        `round ${m.round}: sampled for verification; evidence uploaded (${body.byteLength} bytes, started ${lateMs} ms after the ask, ${encodedMs.toFixed(0)} ms to encode, ${ms.toFixed(0)} ms in all)`,
      );
    } catch (e) {
      const ms = performance.now() - started;
      store.log(
        'error',
        `round ${m.round}: evidence upload failed (started ${lateMs} ms after the ask, ${encodedMs.toFixed(0)} ms to encode, ${ms.toFixed(0)} ms in all): ${describeError(e)}`,
      );
    }
  }
}
