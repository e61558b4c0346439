// Resource governance: the volunteer's GPU budget (Light / Medium / Full) and pause rules
// (idle-only, hidden tab, low battery, CPU pressure), kept between visits, and the throttle
// they make for the trainer: the rules, pure. Governor (governor.ts) applies them to the page.
// Reading the browser's signals computes nothing.
import type { SettingsRecord } from './storage.ts';
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

export const DEFAULT_SETTINGS: SettingsRecord = {
  preset: 'full',
  idleOnly: false,
  idleAfterS: 30,
  pauseWhenHidden: false,
  batteryMin: 0.2,
  followPressure: true,
};

export const DEFAULT_GOVERNANCE: Governance = {
  ...DEFAULT_SETTINGS,
  userActive: false,
  hidden: false,
  battery: null,
  pressure: null,
  softwareDevice: false,
  pausedBy: [],
};

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
