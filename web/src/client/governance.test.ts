// The pause rules as a pure function of the settings, the browser's signals and an injected
// clock (times are local: the schedule is the volunteer's own day), and the Governor that
// re-evaluates them on a fake timer, pushes the throttle and keeps the settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_GOVERNANCE,
  DEFAULT_SETTINGS,
  inSchedule,
  nextScheduleChange,
  nextTimedChange,
  pauseReasons,
  pauseText,
  startOfTomorrow,
  throttleOf,
  validSettings,
  type Governance,
} from './governance.ts';
import { Governor, MAX_TIMER_MS, type GovernorClock } from './governor.ts';
import { SnapshotStore, initialSnapshot } from './snapshot.ts';
import { MemoryStorage, type WeeklySchedule } from './storage.ts';
import type { Throttle } from './trainer.ts';

// Monday 7 December 2026, local time (no DST change near it in any zone that has one).
const at = (day: number, h: number, m = 0) => new Date(2026, 11, 7 + day, h, m).getTime();
const MON = 1,
  TUE = 2,
  SUN = 0;
const WORKDAYS: WeeklySchedule = { days: [1, 2, 3, 4, 5], from: 9 * 60, to: 17 * 60 };
const NIGHTS: WeeklySchedule = { days: [MON], from: 22 * 60, to: 6 * 60 };
const g = (o: Partial<Governance>): Governance => ({ ...DEFAULT_GOVERNANCE, now: at(0, 12), ...o });
const hhmm = (t: number) => `${new Date(t).getDay()} ${new Date(t).getHours()}:${String(new Date(t).getMinutes()).padStart(2, '0')}`;

test('defaults: Medium budget, nothing pauses, no time rule', () => {
  assert.equal(DEFAULT_SETTINGS.preset, 'medium');
  assert.deepEqual(pauseReasons(g({})), []);
  assert.deepEqual(throttleOf(g({})), { duty: 0.5, paused: false });
  assert.equal(nextTimedChange(g({})), null);
});

test('a daytime window: inside on its days and hours, [from, to) in local time', () => {
  assert.ok(inSchedule(WORKDAYS, at(0, 9)));
  assert.ok(inSchedule(WORKDAYS, at(0, 16, 59)));
  assert.ok(!inSchedule(WORKDAYS, at(0, 17)));
  assert.ok(!inSchedule(WORKDAYS, at(0, 8, 59)));
  assert.ok(!inSchedule(WORKDAYS, at(5, 12)), 'Saturday');
  assert.equal(new Date(at(5, 12)).getDay(), 6);
  assert.equal(hhmm(nextScheduleChange(WORKDAYS, at(0, 8, 30))!), `${MON} 9:00`);
  assert.equal(hhmm(nextScheduleChange(WORKDAYS, at(0, 12))!), `${MON} 17:00`);
  // Friday evening: it next opens on Monday.
  assert.equal(nextScheduleChange(WORKDAYS, at(4, 18)), at(7, 9));
});

test('a window past midnight belongs to the day it opens on', () => {
  assert.ok(inSchedule(NIGHTS, at(0, 23)));
  assert.ok(inSchedule(NIGHTS, at(1, 5, 59)), 'Tuesday early morning, from Monday night');
  assert.ok(!inSchedule(NIGHTS, at(1, 6)));
  assert.ok(!inSchedule(NIGHTS, at(1, 23)), 'Tuesday night is not in it');
  assert.ok(!inSchedule(NIGHTS, at(0, 3)), 'Monday early morning comes from Sunday night');
  assert.equal(hhmm(nextScheduleChange(NIGHTS, at(0, 23))!), `${TUE} 6:00`);
  assert.equal(nextScheduleChange(NIGHTS, at(1, 7)), at(7, 22));
  // from = to: a whole day from that time; no days: never opens.
  assert.ok(inSchedule({ days: [SUN], from: 0, to: 0 }, at(6, 13)));
  assert.equal(nextScheduleChange({ days: [], from: 60, to: 120 }, at(0, 12)), null);
});

test('each rule pauses, with its current effect in words', () => {
  const when = (t: number) => hhmm(t);
  const outside = g({ schedule: WORKDAYS, now: at(0, 7) });
  assert.deepEqual(pauseReasons(outside), ['schedule']);
  assert.equal(pauseText('schedule', outside, when), `outside your schedule until ${MON} 9:00`);
  const snoozed = g({ snoozeUntil: at(0, 13), now: at(0, 12) });
  assert.deepEqual(pauseReasons(snoozed), ['snoozed']);
  assert.equal(pauseText('snoozed', snoozed, when), `snoozed until ${MON} 13:00`);
  assert.deepEqual(pauseReasons({ ...snoozed, now: at(0, 13) }), [], 'the snooze ends at its time');
  const onBattery = g({ chargingOnly: true, battery: { level: 0.9, charging: false } });
  assert.deepEqual(pauseReasons(onBattery), ['not-charging']);
  assert.equal(pauseText('not-charging', onBattery), 'on battery');
  assert.deepEqual(pauseReasons({ ...onBattery, battery: { level: 0.9, charging: true } }), []);
  assert.deepEqual(pauseReasons({ ...onBattery, battery: null }), [], 'no Battery Status API: nothing to follow');
  const low = g({ battery: { level: 0.1, charging: false } });
  assert.deepEqual(pauseReasons(low), ['battery']);
  assert.equal(pauseText('battery', low), 'the battery is low (10 %) and not charging');
  const active = g({ idleOnly: true, userActive: true });
  assert.equal(pauseText('active', active), 'you are using this tab', 'the fallback says it sees this tab only');
  assert.equal(pauseText('active', { ...active, idleSource: 'system' }), 'you are using this computer');
  assert.deepEqual(throttleOf({ ...outside, pausedBy: pauseReasons(outside) }), { duty: 0.5, paused: true });
});

test('the next timed change is the nearer of the snooze end and the schedule boundary', () => {
  assert.equal(nextTimedChange(g({ schedule: WORKDAYS, snoozeUntil: at(0, 13), now: at(0, 12) })), at(0, 13));
  assert.equal(nextTimedChange(g({ schedule: WORKDAYS, snoozeUntil: at(0, 13), now: at(0, 14) })), at(0, 17));
  assert.equal(startOfTomorrow(at(0, 23, 59)), at(1, 0));
});

test('saved settings: malformed fields are dropped, good ones kept', () => {
  assert.deepEqual(
    validSettings({ schedule: { days: [1, 1, 9], from: 0, to: 60 } as WeeklySchedule, snoozeUntil: NaN, chargingOnly: 'yes' as unknown as boolean }),
    {},
  );
  assert.deepEqual(validSettings({ schedule: { days: [5, 1], from: 0, to: 1439 }, snoozeUntil: null, chargingOnly: true }), {
    schedule: { days: [1, 5], from: 0, to: 1439 },
    snoozeUntil: null,
    chargingOnly: true,
  });
  assert.deepEqual(validSettings({ schedule: { days: [1], from: 1440, to: 0 } }), {});
});

/** A clock whose timers run when the test advances it. */
function fakeClock(start: number) {
  let now = start;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  const clock: GovernorClock & { advance(ms: number): void; pending(): number } = {
    now: () => now,
    setTimer: (fn, ms) => (timers.set(++id, { at: now + ms, fn }), id),
    clearTimer: (h) => void timers.delete(h as number),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
    pending: () => timers.size,
  };
  return clock;
}

function governor(start: number) {
  const store = new SnapshotStore(initialSnapshot({ storage: { persistent: false, reason: null }, partner: null, governance: DEFAULT_GOVERNANCE }));
  const storage = new MemoryStorage();
  const throttles: Throttle[] = [];
  const clock = fakeClock(start);
  const gov = new Governor(store, storage, (t) => (throttles.push(t), Promise.resolve()), clock);
  return { store, storage, throttles, clock, gov };
}

test('the governor pauses outside the schedule and resumes when it opens, on its own timer', async () => {
  const { store, storage, throttles, clock, gov } = governor(at(0, 8, 59));
  gov.setSchedule(WORKDAYS);
  assert.deepEqual(store.get().governance.pausedBy, ['schedule']);
  assert.equal(throttles.at(-1)!.paused, true);
  assert.deepEqual((await storage.getSettings())?.schedule, WORKDAYS);
  clock.advance(60_000);
  assert.deepEqual(store.get().governance.pausedBy, []);
  assert.equal(throttles.at(-1)!.paused, false);
  assert.ok(store.get().log.some((e) => e.text === 'training resumes'));
  // It closes at 17:00, 8 h away: the timer re-reads the clock at least every minute on the way.
  clock.advance(8 * 3600_000 - 1);
  assert.deepEqual(store.get().governance.pausedBy, []);
  clock.advance(MAX_TIMER_MS);
  assert.deepEqual(store.get().governance.pausedBy, ['schedule']);
  assert.match(store.get().log.at(-1)!.text, /outside your schedule until/);
  gov.setSchedule(null);
  assert.equal(clock.pending(), 0, 'no rule with a time, no timer');
});

test('snooze for an hour and until tomorrow; a malformed schedule is refused and said so', async () => {
  const { store, storage, throttles, clock, gov } = governor(at(0, 20));
  gov.snooze(3600_000);
  assert.deepEqual(store.get().governance.pausedBy, ['snoozed']);
  assert.equal((await storage.getSettings())?.snoozeUntil, at(0, 21));
  clock.advance(3600_000);
  assert.equal(throttles.at(-1)!.paused, false);
  gov.snooze('tomorrow');
  assert.equal(store.get().governance.snoozeUntil, at(1, 0));
  clock.advance(3 * 3600_000);
  assert.deepEqual(store.get().governance.pausedBy, []);
  gov.snooze('tomorrow');
  gov.snooze(null);
  assert.deepEqual(store.get().governance.pausedBy, []);
  gov.setSchedule({ days: [8], from: 0, to: 60 });
  assert.equal(store.get().governance.schedule, null);
  assert.match(store.get().log.at(-1)!.text, /schedule not changed/);
  gov.dispose();
  assert.equal(clock.pending(), 0);
});

test('only while charging follows the battery both ways', () => {
  const { store, throttles, gov } = governor(at(0, 12));
  gov.update({ chargingOnly: true, battery: { level: 0.8, charging: true } });
  assert.equal(throttles.at(-1)!.paused, false);
  gov.update({ battery: { level: 0.8, charging: false } });
  assert.deepEqual(store.get().governance.pausedBy, ['not-charging']);
  assert.equal(throttles.at(-1)!.paused, true);
  assert.match(store.get().log.at(-1)!.text, /training paused: on battery/);
  gov.update({ battery: { level: 0.79, charging: true } });
  assert.equal(throttles.at(-1)!.paused, false);
});

test("a widget host's visible-only pauses while hidden without changing the volunteer's own setting", () => {
  const hidden = g({ hidden: true });
  assert.deepEqual(pauseReasons(hidden), []);
  assert.deepEqual(pauseReasons({ ...hidden, hostVisibleOnly: true }), ['hidden']);
  assert.deepEqual(pauseReasons({ ...hidden, hostVisibleOnly: true, hidden: false }), []);
  const { store, storage, gov } = governor(at(0, 12));
  gov.update({ hostVisibleOnly: true, hidden: true });
  assert.deepEqual(store.get().governance.pausedBy, ['hidden']);
  return storage.getSettings().then((saved) => assert.equal(saved, undefined, 'the host page wrote the volunteer’s settings'));
});
