// Resource governance: the volunteer's GPU budget (Light / Medium / Full) and pause rules
// (snooze, weekly schedule, idle-only, hidden tab, only while charging, low battery, CPU
// pressure), kept between visits, and the throttle
// they make for the trainer: the rules, pure. Governor (governor.ts) applies them to the page.
// Reading the browser's signals computes nothing.
import type { SettingsRecord, WeeklySchedule } from './storage.ts';
import type { Throttle } from './trainer.ts';

/** Resource governance presets: the share of wall time the GPU queue may be busy. */
export const DUTY_PRESETS = { light: 0.25, medium: 0.5, full: 1 } as const;
export type DutyPreset = keyof typeof DUTY_PRESETS;

/**
 * Why training is paused, each with its own text (pauseText). `active`: the volunteer uses the
 * machine (idle-only); `not-charging`: "only while charging" and the battery discharges;
 * `battery`: below the threshold while not charging.
 */
export type PauseReason = 'snoozed' | 'schedule' | 'active' | 'hidden' | 'not-charging' | 'battery' | 'pressure';
/** Compute Pressure API states (PressureObserver 'cpu'). */
export type PressureState = 'nominal' | 'fair' | 'serious' | 'critical';
/**
 * What "idle" is measured by: the Idle Detection API (input anywhere on the computer, and a
 * locked screen), where the volunteer granted it; otherwise input in this tab only.
 */
export type IdleSource = 'system' | 'tab';

export interface Governance extends SettingsRecord {
  /** The clock the time rules were last evaluated at (epoch ms). */
  now: number;
  userActive: boolean;
  idleSource: IdleSource;
  hidden: boolean;
  /** The widget's host page asked for training only while it is visible (embed.js visible-only); not saved. */
  hostVisibleOnly: boolean;
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

const MINUTES_PER_DAY = 24 * 60;
const minuteOfDay = (d: Date) => d.getHours() * 60 + d.getMinutes();

/** Whether the local time `now` (epoch ms) falls inside the weekly window. */
export function inSchedule(s: WeeklySchedule, now: number): boolean {
  const d = new Date(now);
  const day = d.getDay();
  const m = minuteOfDay(d);
  if (s.from < s.to) return s.days.includes(day) && m >= s.from && m < s.to;
  // Past midnight (to ≤ from; from = to is a whole 24 h): the evening of an included day, or the
  // morning after it.
  return (s.days.includes(day) && m >= s.from) || (s.days.includes((day + 6) % 7) && m < s.to);
}

/** The next instant after `now` at which the window opens or closes; null when it never does. */
export function nextScheduleChange(s: WeeklySchedule, now: number): number | null {
  const inside = inSchedule(s, now);
  const base = new Date(now);
  let best: number | null = null;
  // Every boundary of the coming eight days, in local time (so DST moves them as it moves the clock).
  for (let k = 0; k <= 8; k++)
    for (const minute of [s.from, s.to]) {
      const t = new Date(base.getFullYear(), base.getMonth(), base.getDate() + k, Math.floor(minute / 60), minute % 60).getTime();
      if (t > now && (best === null || t < best) && inSchedule(s, t) !== inside) best = t;
    }
  return best;
}

/** Local midnight that starts tomorrow ("snooze until tomorrow"). */
export function startOfTomorrow(now: number): number {
  const d = new Date(now);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
}

/**
 * What pauses training: a snooze, the schedule, the volunteer being active (idle-only), the tab
 * hidden (if chosen), discharging with "only while charging", the battery below the threshold
 * while not charging, or critical CPU pressure. Under 'serious' pressure the budget drops to Light.
 */
export function pauseReasons(g: Omit<Governance, 'pausedBy'>): PauseReason[] {
  const out: PauseReason[] = [];
  if (g.snoozeUntil !== null && g.now < g.snoozeUntil) out.push('snoozed');
  if (g.schedule && !inSchedule(g.schedule, g.now)) out.push('schedule');
  if (g.idleOnly && g.userActive) out.push('active');
  if ((g.pauseWhenHidden || g.hostVisibleOnly) && g.hidden) out.push('hidden');
  if (g.chargingOnly && g.battery && !g.battery.charging) out.push('not-charging');
  else if (g.battery && !g.battery.charging && g.battery.level < g.batteryMin) out.push('battery');
  if (g.pressure === 'critical' && pressureApplies(g)) out.push('pressure');
  return out;
}

/** When a time rule (snooze, schedule) next changes what pauses training; null when none will. */
export function nextTimedChange(g: Pick<Governance, 'now' | 'snoozeUntil' | 'schedule'>): number | null {
  const at = [g.snoozeUntil !== null && g.snoozeUntil > g.now ? g.snoozeUntil : null, g.schedule ? nextScheduleChange(g.schedule, g.now) : null];
  const times = at.filter((t): t is number => t !== null);
  return times.length ? Math.min(...times) : null;
}

export const DEFAULT_SETTINGS: SettingsRecord = {
  preset: 'medium',
  idleOnly: false,
  idleAfterS: 60,
  pauseWhenHidden: false,
  batteryMin: 0.2,
  followPressure: true,
  chargingOnly: false,
  schedule: null,
  snoozeUntil: null,
};

export const DEFAULT_GOVERNANCE: Governance = {
  ...DEFAULT_SETTINGS,
  now: 0,
  userActive: false,
  idleSource: 'tab',
  hidden: false,
  hostVisibleOnly: false,
  battery: null,
  pressure: null,
  softwareDevice: false,
  pausedBy: [],
};

/** An instant as the volunteer reads it: the time, with the weekday when it is not today. */
export function formatInstant(at: number, now: number, locale?: string): string {
  const sameDay = new Date(at).toDateString() === new Date(now).toDateString();
  return new Intl.DateTimeFormat(locale, sameDay ? { hour: '2-digit', minute: '2-digit' } : { weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(
    at,
  );
}

/** The current effect of one pause reason, as shown beside the settings ("paused: on battery"). */
export function pauseText(r: PauseReason, g: Omit<Governance, 'pausedBy'>, when: (at: number) => string = (at) => formatInstant(at, g.now)): string {
  switch (r) {
    case 'snoozed':
      return `snoozed until ${when(g.snoozeUntil ?? g.now)}`;
    case 'schedule': {
      const opens = g.schedule ? nextScheduleChange(g.schedule, g.now) : null;
      return opens === null ? 'outside your schedule (it has no days)' : `outside your schedule until ${when(opens)}`;
    }
    case 'active':
      return g.idleSource === 'system' ? 'you are using this computer' : 'you are using this tab';
    case 'hidden':
      return 'this tab is hidden';
    case 'not-charging':
      return 'on battery';
    case 'battery':
      return `the battery is low (${Math.round((g.battery?.level ?? 0) * 100)} %) and not charging`;
    case 'pressure':
      return 'the CPU is under critical pressure';
  }
}

const isMinute = (m: unknown): m is number => Number.isInteger(m) && (m as number) >= 0 && (m as number) < MINUTES_PER_DAY;

/** A schedule from storage or the form, or null when malformed. */
export function validSchedule(s: unknown): WeeklySchedule | null {
  if (typeof s !== 'object' || s === null) return null;
  const { days, from, to } = s as Partial<WeeklySchedule>;
  if (!Array.isArray(days) || !days.every((d) => Number.isInteger(d) && d >= 0 && d <= 6) || !isMinute(from) || !isMinute(to)) return null;
  return { days: [...new Set(days)].sort(), from, to };
}

/** Saved settings from an older or tampered record: keep only well-formed fields. */
export function validSettings(r: Partial<SettingsRecord>): Partial<SettingsRecord> {
  const out: Partial<SettingsRecord> = {};
  if (r.preset && r.preset in DUTY_PRESETS) out.preset = r.preset;
  if (typeof r.idleOnly === 'boolean') out.idleOnly = r.idleOnly;
  if (typeof r.idleAfterS === 'number' && r.idleAfterS >= 1 && r.idleAfterS <= 3600) out.idleAfterS = r.idleAfterS;
  if (typeof r.pauseWhenHidden === 'boolean') out.pauseWhenHidden = r.pauseWhenHidden;
  if (typeof r.batteryMin === 'number' && r.batteryMin >= 0 && r.batteryMin <= 1) out.batteryMin = r.batteryMin;
  if (typeof r.followPressure === 'boolean') out.followPressure = r.followPressure;
  if (typeof r.chargingOnly === 'boolean') out.chargingOnly = r.chargingOnly;
  if (r.schedule === null) out.schedule = null;
  else if (validSchedule(r.schedule)) out.schedule = validSchedule(r.schedule);
  if (r.snoozeUntil === null || (typeof r.snoozeUntil === 'number' && Number.isFinite(r.snoozeUntil))) out.snoozeUntil = r.snoozeUntil;
  return out;
}

/** The trainer's throttle for these settings: 'serious' CPU pressure holds the budget at Light. */
export function throttleOf(g: Governance): Throttle {
  const duty = g.pressure === 'serious' && pressureApplies(g) ? Math.min(DUTY_PRESETS[g.preset], DUTY_PRESETS.light) : DUTY_PRESETS[g.preset];
  return { duty, paused: g.pausedBy.length > 0 };
}
