// The commit's verdict on this page's reports. A contribution refused at commit (no quorum, a
// refused aggregate) was never applied, yet the residual had advanced past its frame (e ← e'):
// its update goes back, e ← e + decode(frame), so the page holds its whole update again — now,
// or before the next round trains when the residual is in the worker.
import { decodeFrame, toDense } from '../../../../shared/codec.ts';
import type { RunSpec } from '../../../../shared/config.ts';
import { peerUpdateLimits } from '../../../../shared/round.ts';
import type { ServerMessage } from '../../../../shared/wire/index.ts';
import type { SnapshotStore } from '../snapshot.ts';

export type AckMessage = Extract<ServerMessage, { type: 'ack' }>;

/** Reports whose commit verdict a page waits for (a verdict comes within a round of the report). */
const VERDICTS_AWAITED = 4;

export class Verdicts {
  /** By report nonce: reported frames the residual advanced past. */
  private readonly advanced = new Map<string, { run: RunSpec; round: number; frame: Uint8Array }>();
  /** Updates given back and not yet added to the residual. */
  private givenBack: { run: number; update: Float32Array }[] = [];

  track(nonce: string, a: { run: RunSpec; round: number; frame: Uint8Array }): void {
    this.advanced.set(nonce, a);
    for (const k of [...this.advanced.keys()].slice(0, -VERDICTS_AWAITED)) this.advanced.delete(k);
  }

  /** A verdict: the run whose update was given back when it was refused, else null (accepted, unknown, repeated). */
  settle(m: AckMessage, store: Pick<SnapshotStore, 'log'>): RunSpec | null {
    const a = this.advanced.get(m.nonce);
    if (!a || m.state === 'pending') return null;
    this.advanced.delete(m.nonce);
    if (m.state !== 'rejected') return null;
    this.givenBack.push({ run: a.run.id, update: toDense(decodeFrame(a.frame, peerUpdateLimits(a.run, a.round))) });
    store.log('warn', `round ${a.round}: the contribution was refused at commit (${m.reason ?? 'no reason given'}); its update goes back into the residual`);
    return a.run;
  }

  /** Adds the updates given back under `run` to its residual e; true when e changed. Updates of another run are dropped: they have no residual to go to. */
  giveBackInto(run: RunSpec, e: Float32Array | null): boolean {
    if (!this.givenBack.length || !e || e.length !== run.paramCount) return false;
    const mine = this.givenBack.filter((g) => g.run === run.id);
    this.givenBack = [];
    for (const { update } of mine) for (let i = 0; i < e.length; i++) e[i] += update[i];
    return mine.length > 0;
  }
}
