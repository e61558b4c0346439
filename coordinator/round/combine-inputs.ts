// The uploaded bytes of the cohort aggregates a committed round's combine took (its level-1
// inputs, shared/robust-combine.ts CombineGroup), so an auditor can redo the combine from them
// (`npm run audit`, e2e/combine-audit.ts; served at GET /api/runs/:id/rounds/:round/aggregates/:hash).
// The ledger keeps only the combine's record (hashes), never the frames: these are kept in memory
// for the newest rounds, up to COMBINE_INPUTS_KEPT_BYTES in all (oldest rounds dropped first), so
// an auditor checks recent rounds and is told which frames of older ones are no longer held.
import type { Hex } from 'viem';

/** Bytes of cohort aggregates kept for auditors (64 MiB: ~320 MLP rounds of one cohort, fewer the more cohorts a round has). */
export const COMBINE_INPUTS_KEPT_BYTES = 64 << 20;

export class CombineInputs {
  /** round → its combine's input frames by hash, oldest round first. */
  private readonly rounds = new Map<number, Map<Hex, Uint8Array>>();
  private bytes = 0;

  constructor(private readonly keptBytes = COMBINE_INPUTS_KEPT_BYTES) {}

  /** A committed round's combine inputs; older rounds leave while the total is over the budget (a round larger than all of it is not kept). */
  note(round: number, frames: ReadonlyMap<Hex, Uint8Array>): void {
    if (this.rounds.has(round)) return;
    this.rounds.set(round, new Map(frames));
    for (const f of frames.values()) this.bytes += f.byteLength;
    for (const [r, kept] of this.rounds) {
      if (this.bytes <= this.keptBytes) break;
      this.rounds.delete(r);
      for (const f of kept.values()) this.bytes -= f.byteLength;
    }
  }

  /** The bytes of `hash` if round `round`'s combine took it and they are still kept, else null. */
  get(round: number, hash: Hex): Uint8Array | null {
    return this.rounds.get(round)?.get(hash.toLowerCase() as Hex) ?? null;
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.bytes;
  }
}
