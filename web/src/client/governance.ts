// Resource governance: the volunteer's GPU budget (Light / Medium / Full) and pause rules
// (idle-only, hidden tab, low battery, CPU pressure), kept between visits, and the throttle
// they make for the trainer. Reading the browser's signals computes nothing.
import { estimateContribution } from './estimate.ts';
import { describeError } from './errors.ts';
import type { SnapshotStore } from './snapshot.ts';
import type { ClientStorage, SettingsRecord } from './storage.ts';
import type { Throttle } from './trainer.ts';

/** Resource governance presets: the share of wall time the GPU queue may be busy. */
export const DUTY_PRESETS = { light: 0.25, medium: 0.5, full: 1 } as const;
export type DutyPreset = keyof typeof DUTY_PRESETS;

export type PauseReason = 'active' | 'hidden' | 'battery' | 'pressure';
/** Compute Pressure API states (PressureObserver 'cpu'). */
export type PressureState = 'nominal' | 'fair' | 'serious' | 'critical';

export interface Governance extends SettingsRecord {
  userActive: boolean;
  hidden: boolean;
  /** From the Battery Status API where it exists; null elsewhere. */
  battery: { level: number; charging: boolean } | null;
  /** From the Compute Pressure API where it exists; null elsewhere. */
  pressure: PressureState | null;
  /**
   * The trainer computes on the CPU (the CPU path, or a software WebGPU adapter such as
   * SwiftShader): then CPU pressure is largely this training's own load, and is not followed
   * (following it would pause the training for its own sake, over and over).
   */
  softwareDevice: boolean;
  pausedBy: PauseReason[];
}

/** Whether CPU pressure readings steer the trainer now. */
export const pressureApplies = (g: Pick<Governance, 'followPressure' | 'softwareDevice'>) => g.followPressure && !g.softwareDevice;

/** Adapters that run WebGPU on the CPU. */
export const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

/**
 * What pauses training: the volunteer is active (idle-only mode), the tab is hidden (if chosen),
 * the battery runs below the threshold while not charging, or the CPU is under critical pressure.
 * Under 'serious' pressure the GPU budget drops to Light instead.
 */
export function pauseReasons(g: Omit<Governance, 'pausedBy'>): PauseReason[] {
  const out: PauseReason[] = [];
  if (g.idleOnly && g.userActive) out.push('active');
  if (g.pauseWhenHidden && g.hidden) out.push('hidden');
  if (g.battery && !g.battery.charging && g.battery.level < g.batteryMin) out.push('battery');
  if (g.pressure === 'critical' && pressureApplies(g)) out.push('pressure');
  return out;
}

export const DEFAULT_SETTINGS: SettingsRecord = { preset: 'full', idleOnly: false, idleAfterS: 30, pauseWhenHidden: false, batteryMin: 0.2, followPressure: true };

export const DEFAULT_GOVERNANCE: Governance = { ...DEFAULT_SETTINGS, userActive: false, hidden: false, battery: null, pressure: null, softwareDevice: false, pausedBy: [] };

export const PAUSE_TEXT: Record<PauseReason, string> = {
  active: 'you are using this computer',
  hidden: 'this tab is hidden',
  battery: 'the battery is low and not charging',
  pressure: 'the CPU is under critical pressure',
};

/** Saved settings from an older or tampered record: keep only well-formed fields. */
export function validSettings(r: Partial<SettingsRecord>): Partial<SettingsRecord> {
  const out: Partial<SettingsRecord> = {};
  if (r.preset && r.preset in DUTY_PRESETS) out.preset = r.preset;
  if (typeof r.idleOnly === 'boolean') out.idleOnly = r.idleOnly;
  if (typeof r.idleAfterS === 'number' && r.idleAfterS >= 1 && r.idleAfterS <= 3600) out.idleAfterS = r.idleAfterS;
  if (typeof r.pauseWhenHidden === 'boolean') out.pauseWhenHidden = r.pauseWhenHidden;
  if (typeof r.batteryMin === 'number' && r.batteryMin >= 0 && r.batteryMin <= 1) out.batteryMin = r.batteryMin;
  if (typeof r.followPressure === 'boolean') out.followPressure = r.followPressure;
  return out;
}

/** The trainer's throttle for these settings: 'serious' CPU pressure holds the budget at Light. */
export function throttleOf(g: Governance): Throttle {
  const duty = g.pressure === 'serious' && pressureApplies(g) ? Math.min(DUTY_PRESETS[g.preset], DUTY_PRESETS.light) : DUTY_PRESETS[g.preset];
  return { duty, paused: g.pausedBy.length > 0 };
}

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
    if (patch.preset && p.run && p.samplesPerSec !== null) store.set({ profile: { ...p, estimate: estimateContribution(p.run, p.samplesPerSec, DUTY_PRESETS[patch.preset]) } });
    const settingsChanged = (Object.keys(DEFAULT_SETTINGS) as (keyof SettingsRecord)[]).some((k) => k in patch && patch[k] !== before[k]);
    if (settingsChanged) {
      const rec: SettingsRecord = { preset: next.preset, idleOnly: next.idleOnly, idleAfterS: next.idleAfterS, pauseWhenHidden: next.pauseWhenHidden, batteryMin: next.batteryMin, followPressure: next.followPressure };
      this.storage.putSettings(rec).catch((e: unknown) => store.log('warn', `could not save your settings: ${describeError(e)}`));
    }
    const was = before.pausedBy.join(',');
    if (was !== pausedBy.join(',')) {
      if (pausedBy.length) store.log('info', `training paused: ${pausedBy.map((r) => PAUSE_TEXT[r]).join('; ')}`);
      else if (was) store.log('info', 'training resumes');
    }
    if (patch.pressure !== undefined && patch.pressure !== before.pressure && patch.pressure === 'serious' && pressureApplies(next)) store.log('info', 'the CPU is under serious pressure: GPU budget held at Light');
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
    this.applyThrottle(throttleOf(this.store.get().governance))?.catch((e: unknown) => this.store.log('warn', `could not apply the GPU budget: ${describeError(e)}`));
  }
}
