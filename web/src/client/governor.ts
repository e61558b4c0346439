// Governor: applies a governance change (governance.ts) to the page: the snapshot, the saved
// settings, the log, and the trainer's throttle.
import { estimateContribution } from './estimate.ts';
import { describeError } from './errors.ts';
import { DEFAULT_SETTINGS, DUTY_PRESETS, PAUSE_TEXT, pauseReasons, pressureApplies, throttleOf, type Governance, type DutyPreset } from './governance.ts';
import type { SnapshotStore } from './snapshot.ts';
import type { ClientStorage, SettingsRecord } from './storage.ts';
import type { Throttle } from './trainer.ts';

/** Applies a governance change: the snapshot, the saved settings, the log, and the trainer's throttle. */
export class Governor {
  constructor(
    private readonly store: SnapshotStore,
    private readonly storage: Pick<ClientStorage, 'putSettings'>,
    private readonly applyThrottle: (t: Throttle) => Promise<void> | undefined,
  ) {}

  update(patch: Partial<Governance>): void {
    const { store } = this;
    const before = store.get().governance;
    const next = { ...before, ...patch };
    const pausedBy = pauseReasons(next);
    store.set({ governance: { ...next, pausedBy } });
    const p = store.get().profile;
    if (patch.preset && p.run && p.samplesPerSec !== null)
      store.set({ profile: { ...p, estimate: estimateContribution(p.run, p.samplesPerSec, DUTY_PRESETS[patch.preset]) } });
    const settingsChanged = (Object.keys(DEFAULT_SETTINGS) as (keyof SettingsRecord)[]).some((k) => k in patch && patch[k] !== before[k]);
    if (settingsChanged) {
      const rec: SettingsRecord = {
        preset: next.preset,
        idleOnly: next.idleOnly,
        idleAfterS: next.idleAfterS,
        pauseWhenHidden: next.pauseWhenHidden,
        batteryMin: next.batteryMin,
        followPressure: next.followPressure,
      };
      this.storage.putSettings(rec).catch((e: unknown) => store.log('warn', `could not save your settings: ${describeError(e)}`));
    }
    const was = before.pausedBy.join(',');
    if (was !== pausedBy.join(',')) {
      if (pausedBy.length) store.log('info', `training paused: ${pausedBy.map((r) => PAUSE_TEXT[r]).join('; ')}`);
      else if (was) store.log('info', 'training resumes');
    }
    if (patch.pressure !== undefined && patch.pressure !== before.pressure && patch.pressure === 'serious' && pressureApplies(next))
      store.log('info', 'the CPU is under serious pressure: GPU budget held at Light');
    this.push();
  }

  /** Light / Medium / Full: applies from the next GPU segment, also mid-round. */
  setPreset(preset: DutyPreset): void {
    this.update({ preset });
    this.store.log('info', `GPU budget: ${preset} (${Math.round(DUTY_PRESETS[preset] * 100)} % of the time)`);
  }

  /** Idle-only mode: training pauses while the volunteer uses the machine (see setUserActive). */
  setIdleOnly(on: boolean): void {
    this.update({ idleOnly: on });
    this.store.log('info', on ? 'idle-only: training pauses while you use this computer' : 'idle-only off');
  }

  /** Seconds without input before idle-only mode resumes (1 s to 1 h). */
  setIdleAfter(seconds: number): void {
    if (Number.isFinite(seconds)) this.update({ idleAfterS: Math.min(3600, Math.max(1, Math.round(seconds))) });
  }

  /** Pause on battery below this level (0–1) while not charging; 0 turns it off. */
  setBatteryMin(level: number): void {
    if (Number.isFinite(level)) this.update({ batteryMin: Math.min(1, Math.max(0, level)) });
  }

  /** From the page's activity watcher: true on input, false after N idle seconds. */
  setUserActive(active: boolean): void {
    if (this.store.get().governance.userActive !== active) this.update({ userActive: active });
  }

  /** Sends the current throttle to the trainer (if there is one). */
  push(): void {
    this.applyThrottle(throttleOf(this.store.get().governance))?.catch((e: unknown) =>
      this.store.log('warn', `could not apply the GPU budget: ${describeError(e)}`),
    );
  }
}
