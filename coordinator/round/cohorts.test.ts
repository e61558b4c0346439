import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { CohortSeating, formCohorts, pairKey } from './cohorts.ts';

const account = (i: number) => `0x${i.toString(16).padStart(40, '0')}` as Address;
const accounts = (ids: Iterable<number>) => [...ids].map(account).sort();
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const NONE = new Set<string>();

/** A mulberry32 stream: the same churn every run. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many of `before`'s cohorts are not seated, member for member, in `after`. */
function changed(before: Address[][], after: Address[][]): number {
  const key = (c: Address[]) => [...c].sort().join(',');
  const now = new Set(after.map(key));
  return before.filter((c) => !now.has(key(c))).length;
}

function assertSeating(cohorts: Address[][], ready: Address[], hi: number) {
  const lo = Math.ceil(hi / 2);
  const seated = cohorts.flat();
  assert.equal(seated.length, ready.length, 'every ready account is seated once');
  assert.deepEqual([...seated].sort(), ready);
  if (ready.length >= lo) for (const c of cohorts) assert.ok(c.length >= lo && c.length <= hi, `cohort of ${c.length} outside [${lo}, ${hi}]`);
}

test('with no previous cohorts the ready accounts are dealt round-robin into ⌈n / cohortSize⌉ cohorts', () => {
  const ready = accounts(range(1, 21));
  const cohorts = formCohorts({ ready, previous: [], unreached: NONE, cohortSize: 8 });
  assert.deepEqual(
    cohorts,
    [0, 1, 2].map((k) => ready.filter((_, i) => i % 3 === k)),
  );
});

test('one leave changes only its cohort while sizes stay in bounds; one join only the cohort that seats it', () => {
  const ready = accounts(range(1, 22)); // 21 → 7, 7, 7 with cohortSize 8
  const first = formCohorts({ ready, previous: [], unreached: NONE, cohortSize: 8 });
  const gone = first[1][3];
  const afterLeave = formCohorts({ ready: ready.filter((a) => a !== gone), previous: first, unreached: NONE, cohortSize: 8 });
  assert.equal(changed(first, afterLeave), 1);
  assert.deepEqual(afterLeave[0], first[0]);
  assert.deepEqual(afterLeave[2], first[2]);
  const joined = [...ready, account(999)].sort();
  const afterJoin = formCohorts({ ready: joined, previous: first, unreached: NONE, cohortSize: 8 });
  assert.equal(changed(first, afterJoin), 1);
  assert.equal(afterJoin.length, 3);
  assertSeating(afterJoin, joined, 8);
});

test('a leave that takes a cohort below ⌈cohortSize/2⌉ dissolves it into one with room; a join with every cohort full takes donors', () => {
  const ready = accounts(range(1, 10)); // 9 → 5, 4 with cohortSize 8
  const first = formCohorts({ ready, previous: [], unreached: NONE, cohortSize: 8 });
  assert.deepEqual(
    first.map((c) => c.length),
    [5, 4],
  );
  const left = ready.filter((a) => a !== first[1][0]);
  const merged = formCohorts({ ready: left, previous: first, unreached: NONE, cohortSize: 8 });
  assert.deepEqual(merged, [[...first[0], ...first[1].slice(1)]], 'the 3 left join the 5: one cohort of 8');
  const full = accounts(range(1, 9));
  const one = formCohorts({ ready: full, previous: [], unreached: NONE, cohortSize: 8 });
  const grown = [...full, account(77)].sort();
  const split = formCohorts({ ready: grown, previous: one, unreached: NONE, cohortSize: 8 });
  assert.deepEqual(split, [one[0].slice(0, 5), [account(77), ...one[0].slice(5).reverse()]]);
});

test('over 300 rounds of random joins and leaves: sizes stay in bounds, at most two cohorts change per event, one where sizes allow', () => {
  for (const hi of [2, 3, 5, 8]) {
    const rand = prng(hi);
    let present = new Set(range(1, 30));
    let next = 1000;
    let cohorts = formCohorts({ ready: accounts(present), previous: [], unreached: NONE, cohortSize: hi });
    let single = 0;
    for (let r = 0; r < 300; r++) {
      const join = present.size < hi || rand() < 0.5;
      const ids = [...present];
      if (join) present.add(next++);
      else present.delete(ids[Math.floor(rand() * ids.length)]);
      const ready = accounts(present);
      const after = formCohorts({ ready, previous: cohorts, unreached: NONE, cohortSize: hi });
      assertSeating(after, ready, hi);
      const n = changed(cohorts, after);
      assert.ok(n <= 2, `cohortSize ${hi}, round ${r}: ${n} cohorts changed`);
      if (n === 1) single++;
      cohorts = after;
    }
    assert.ok(single > 150, `cohortSize ${hi}: only ${single} of 300 events changed a single cohort`);
  }
});

test('the same inputs give the same cohorts', () => {
  const rand = prng(7);
  const ready = accounts(range(1, 60).filter(() => rand() < 0.8));
  const previous = formCohorts({ ready: accounts(range(1, 60)), previous: [], unreached: NONE, cohortSize: 6 });
  const unreached = new Set([pairKey(previous[0][0], previous[0][1])]);
  const a = formCohorts({ ready, previous, unreached, cohortSize: 6 });
  const b = formCohorts({ ready: [...ready], previous: previous.map((c) => [...c]), unreached: new Set(unreached), cohortSize: 6 });
  assert.deepEqual(a, b);
});

test('a member none of whose links connected moves to another cohort with room; where nothing connected nobody moves', () => {
  const ready = accounts(range(1, 12)); // 11 → 6, 5 with cohortSize 8
  const first = formCohorts({ ready, previous: [], unreached: NONE, cohortSize: 8 });
  const [odd, ...rest] = first[0];
  const unreached = new Set(rest.map((b) => pairKey(odd, b)));
  const after = formCohorts({ ready, previous: first, unreached, cohortSize: 8 });
  assert.deepEqual(after, [rest, [...first[1], odd]]);
  // Nowhere to go (one cohort): it stays.
  const alone = formCohorts({ ready: first[0], previous: [first[0]], unreached, cohortSize: 8 });
  assert.deepEqual(alone, [first[0]]);
  // No WebRTC at all: every pair unreached, the cohorts stay as they were.
  const all = new Set(first.flatMap((c) => c.flatMap((a) => c.filter((b) => b !== a).map((b) => pairKey(a, b)))));
  assert.deepEqual(formCohorts({ ready, previous: first, unreached: all, cohortSize: 8 }), first);
});

test('CohortSeating remembers one round: its formation and the relays noted during it', () => {
  const ready = accounts(range(1, 12));
  const seating = new CohortSeating(8);
  const first = seating.form(ready);
  const [odd, ...rest] = first[0];
  seating.noteUnreached(odd, rest);
  const second = seating.form(ready);
  assert.deepEqual(second, [rest, [...first[1], odd]]);
  // The notes were for that round only: the next formation keeps the cohorts.
  assert.deepEqual(seating.form(ready), second);
});
