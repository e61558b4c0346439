// The page's copy of the global model: θ_r and the outer optimizer's momentum at round r.
// It moves forward by applying each published global update with the same CPU code as the
// coordinator (shared/round.ts applyGlobalUpdate), and every move is checked against the coordinator's hash.
// A page that was away reads the sync index (content-addressed updates and snapshot, with their
// sizes) and takes whichever is fewer bytes: the updates since its round, or the snapshot. When a
// check fails, it downloads the snapshot.
import type { Hex } from 'viem';
import { applyGlobalUpdate, type LocalModel } from '../../../shared/round.ts';
import type { RunSpec } from '../../../shared/config.ts';
import { IdlegradError } from '../../../shared/errors.ts';
import { runModelHash } from '../../../shared/model-hash.ts';
import type { SyncIndex } from '../../../shared/wire/index.ts';
import type { CoordinatorApi } from './api.ts';
import { describeError } from './errors.ts';
import type { ClientStorage } from './storage.ts';

type Log = (level: 'info' | 'warn' | 'error', text: string) => void;

export interface ModelSyncDeps {
  api: Pick<CoordinatorApi, 'syncIndex' | 'updateByHash' | 'snapshotByHash'>;
  storage: Pick<ClientStorage, 'getModel' | 'putModel'>;
  log: Log;
}

/** The updates that take round `from` to `to`, and their bytes, if the index lists them all; else null. */
export function updatesBetween(index: SyncIndex, from: number, to: number): { updates: NonNullable<SyncIndex['updates']>; bytes: number } | null {
  if (!index.updates || to > index.round) return null;
  const updates = index.updates.filter((u) => u.round >= from && u.round < to);
  if (updates.length !== to - from) return null;
  return { updates, bytes: updates.reduce((s, u) => s + u.bytes, 0) };
}

/** Owns `current`; every operation runs after the previous one (rounds and commits interleave). */
export class ModelSync {
  current: LocalModel | null = null;
  private run: RunSpec | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  constructor(private readonly deps: ModelSyncDeps) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Switch to a run; loads the stored model when it is for the same parameter table. */
  setRun(run: RunSpec): Promise<void> {
    return this.serial(async () => {
      if (this.run?.id === run.id && this.run.paramTableHash === run.paramTableHash && this.current) return;
      this.run = run;
      this.current = null;
      const stored = await this.deps.storage.getModel(run.id);
      if (
        stored &&
        stored.paramTableHash === run.paramTableHash &&
        stored.params.length === run.paramCount &&
        (await runModelHash(run, stored.params)) === stored.modelHash
      ) {
        this.current = {
          run: stored.run,
          paramTableHash: stored.paramTableHash,
          round: stored.round,
          modelHash: stored.modelHash,
          params: stored.params,
          momentum: stored.momentum,
        };
      }
    });
  }

  /** Make `current` equal θ_round with hash `modelHash`: from cache, by catching up, or from a snapshot, whichever is fewer bytes. */
  ensure(round: number, modelHash: Hex): Promise<LocalModel> {
    return this.serial(async () => {
      const run = this.requireRun();
      const want = modelHash.toLowerCase() as Hex;
      const cur = this.current;
      if (cur && cur.round === round && cur.modelHash === want) return cur;
      const index = await this.deps.api.syncIndex(run.id, cur && cur.round < round ? cur.round : round);
      const plan = cur && cur.round < round ? updatesBetween(index, cur.round, round) : null;
      if (cur && plan && plan.bytes <= index.snapshot.bytes) {
        try {
          const caught = await this.applyUpdates(cur, plan.updates, run);
          const why = `caught up from round ${cur.round} to ${round} with ${plan.updates.length} update(s), ${plan.bytes} bytes (the snapshot is ${index.snapshot.bytes})`;
          if (caught.modelHash === want) return this.adopt(caught, why);
          this.deps.log(
            'warn',
            `catching up from round ${cur.round} reached hash ${caught.modelHash.slice(0, 10)}…, expected ${want.slice(0, 10)}…; downloading a snapshot`,
          );
        } catch (e) {
          this.deps.log('warn', `catching up from round ${cur.round} failed: ${describeError(e)}; downloading a snapshot`);
        }
      }
      return this.fromSnapshot(round, want, run, index);
    });
  }

  /**
   * Apply the published global update of `round` (θ_round → θ_round+1) if the model is at `round`;
   * `updateHash` is its content address from `committed` (null: read it from the sync index).
   */
  committed(round: number, modelHash: Hex, updateHash: Hex | null = null): Promise<void> {
    return this.serial(async () => {
      const run = this.requireRun();
      const cur = this.current;
      const want = modelHash.toLowerCase() as Hex;
      if (!cur || cur.round !== round) return;
      if (cur.modelHash === want) {
        // Nothing was accepted this round: the model carries over unchanged.
        await this.adopt({ ...cur, round: round + 1 });
        return;
      }
      let next: LocalModel;
      try {
        const hash = updateHash ?? (await this.deps.api.syncIndex(run.id, round)).updates?.[0]?.hash;
        if (!hash) throw new IdlegradError('NOT_FOUND', `the sync index lists no update for round ${round}`);
        next = await applyGlobalUpdate(cur, await this.deps.api.updateByHash(run.id, round, hash), run);
      } catch (e) {
        this.deps.log('error', `could not apply the round ${round} update: ${describeError(e)}; downloading a snapshot`);
        await this.fromSnapshot(round + 1, want, run).catch((e2) => this.deps.log('error', describeError(e2)));
        return;
      }
      if (next.modelHash !== want) {
        this.deps.log(
          'error',
          `MODEL HASH MISMATCH after round ${round}: local ${next.modelHash}, coordinator ${want}. The local model diverged; downloading a fresh snapshot.`,
        );
        await this.fromSnapshot(round + 1, want, run).catch((e2) => this.deps.log('error', describeError(e2)));
        return;
      }
      await this.adopt(next);
    });
  }

  private requireRun(): RunSpec {
    if (!this.run) throw new IdlegradError('INTERNAL', 'model sync used before the run spec arrived');
    return this.run;
  }

  /** Apply listed updates in order (a round with none carries the model over unchanged). */
  private async applyUpdates(from: LocalModel, updates: NonNullable<SyncIndex['updates']>, run: RunSpec): Promise<LocalModel> {
    let m = from;
    for (const u of updates) {
      if (u.round !== m.round) throw new IdlegradError('STALE_ROUND', `the sync index lists round ${u.round} where round ${m.round} is next`);
      m = u.hash ? await applyGlobalUpdate(m, await this.deps.api.updateByHash(run.id, u.round, u.hash), run) : { ...m, round: m.round + 1 };
    }
    return m;
  }

  private async fromSnapshot(round: number, want: Hex, run: RunSpec, index?: SyncIndex): Promise<LocalModel> {
    index ??= await this.deps.api.syncIndex(run.id, round);
    const snap = await this.deps.api.snapshotByHash(run.id, index.snapshot.hash, run.paramCount);
    const actual = await runModelHash(run, snap.params);
    if (actual !== snap.modelHash) {
      throw new IdlegradError('BAD_FRAME', `the snapshot's parameters hash to ${actual}, not the ${snap.modelHash} it claims`);
    }
    let m: LocalModel = {
      run: run.id,
      paramTableHash: run.paramTableHash,
      round: snap.round,
      modelHash: snap.modelHash,
      params: snap.params,
      momentum: snap.momentum,
    };
    if (m.round < round) {
      // The round moved on while the snapshot was fetched: the updates since, if listed.
      const plan = updatesBetween(await this.deps.api.syncIndex(run.id, m.round), m.round, round);
      if (plan) m = await this.applyUpdates(m, plan.updates, run);
    }
    if (m.round !== round || m.modelHash !== want) {
      // Keep the verified model anyway: it is valid for its own round.
      await this.adopt(m);
      throw new IdlegradError('STALE_ROUND', `the snapshot is at round ${m.round} (${m.modelHash.slice(0, 10)}…), round ${round} needs ${want.slice(0, 10)}…`);
    }
    return this.adopt(m, `loaded the round ${round} snapshot (${m.modelHash.slice(0, 10)}…, ${index.snapshot.bytes} bytes)`);
  }

  private async adopt(m: LocalModel, why?: string): Promise<LocalModel> {
    this.current = m;
    if (why) this.deps.log('info', why);
    try {
      await this.deps.storage.putModel({ ...m, savedAt: Date.now() });
    } catch (e) {
      this.deps.log('warn', `could not cache the model: ${describeError(e)}`);
    }
    return m;
  }
}
