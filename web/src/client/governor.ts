// Governor: applies a governance change (governance.ts) to the page: the snapshot, the saved
// settings, the log, and the trainer's throttle; and re-evaluates the time rules (snooze,
// schedule) when they are due.
import { estimateContribution } from './estimate.ts';
import { describeError } from './errors.ts';
import {
  DEFAULT_SETTINGS,
  DUTY_PRESETS,
  nextTimedChange,
  pauseReasons,
  pauseText,
  pressureApplies,
  startOfTomorrow,
  throttleOf,
  validSchedule,
  type Governance,
  type DutyPreset,
} from './governance.ts';
import type { SnapshotStore } from './snapshot.ts';
import type { ClientStorage, SettingsRecord, WeeklySchedule } from './storage.ts';
import type { Throttle } from './trainer.ts';

/** The clock and timer the time rules run on (injected by tests). */
export interface GovernorClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const REAL_CLOCK: GovernorClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * A timer never waits longer than this before re-reading the clock: a computer that slept, or a
 * clock that was changed, is noticed within a minute.
 */
export const MAX_TIMER_MS = 60_000;

const sameSetting = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** Applies a governance change: the snapshot, the saved settings, the log, and the trainer's throttle. */
export class Governor {
  private timer: unknown = null;

  constructor(
    private readonly store: SnapshotStore,
    private readonly storage: Pick<ClientStorage, 'putSettings'>,
    private readonly applyThrottle: (t: Throttle) => Promise<void> | undefined,
    private readonly clock: GovernorClock = REAL_CLOCK,
  ) {}

  update(patch: Partial<Governance>): void {
    const { store } = this;
    const before = store.get().governance;
    const next = { ...before, ...patch, now: this.clock.now() };
    const pausedBy = pauseReasons(next);
    store.set({ governance: { ...next, pausedBy } });
    const p = store.get().profile;
    if (patch.preset && p.run && p.samplesPerSec !== null)
      store.set({ profile: { ...p, estimate: estimateContribution(p.run, p.samplesPerSec, DUTY_PRESETS[patch.preset]) } });
    const keys = Object.keys(DEFAULT_SETTINGS) as (keyof SettingsRecord)[];
    if (keys.some((k) => k in patch && !sameSetting(patch[k], before[k]))) {
      const rec = Object.fromEntries(keys.map((k) => [k, next[k]])) as unknown as SettingsRecord;
      this.storage.putSettings(rec).catch((e: unknown) => store.log('warn', `could not save your settings: ${describeError(e)}`));
    }
    const was = before.pausedBy.join(',');
    if (was !== pausedBy.join(',')) {
      if (pausedBy.length) store.log('info', `training paused: ${pausedBy.map((r) => pauseText(r, next)).join('; ')}`);
      else if (was) store.log('info', 'training resumes');
    }
    if (patch.pressure !== undefined && patch.pressure !== before.pressure && patch.pressure === 'serious' && pressureApplies(next))
      store.log('info', 'the CPU is under serious pressure: GPU budget held at Light');
    this.arm(next);
    this.push();
  }

  /** Re-evaluates when the next time rule is due (capped, see MAX_TIMER_MS); no timer when none is set. */
  private arm(g: Governance): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    const at = nextTimedChange(g);
    if (at === null) return;
    this.timer = this.clock.setTimer(
      () => {
        this.timer = null;
        this.update({});
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - g.now) + 5),
    );
  }

  /** Stops the timer (the page goes away). */
  dispose(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
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

  /** Train only inside a weekly window (null: any time); a malformed one is refused and logged. */
  setSchedule(schedule: WeeklySchedule | null): void {
    if (schedule === null) return this.update({ schedule: null });
    const s = validSchedule(schedule);
    if (!s) return this.store.log('warn', `schedule not changed: expected days 0–6 and times 00:00–23:59, got ${JSON.stringify(schedule)}`);
    this.update({ schedule: s });
  }

  /** Pause for `ms` from now; 'tomorrow' until local midnight; null ends the snooze. */
  snooze(ms: number | 'tomorrow' | null): void {
    const now = this.clock.now();
    this.update({ snoozeUntil: ms === null ? null : ms === 'tomorrow' ? startOfTomorrow(now) : now + ms });
  }

  /** Sends the current throttle to the trainer (if there is one). */
  push(): void {
    this.applyThrottle(throttleOf(this.store.get().governance))?.catch((e: unknown) =>
      this.store.log('warn', `could not apply the GPU budget: ${describeError(e)}`),
    );
  }
}
