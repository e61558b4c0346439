// Cohort formation that keeps what connected (issue 16 item 1): a round's cohorts are last
// round's cohorts, minus the members who left, plus the newcomers, so a page keeps its WebRTC
// links (web/src/client/p2p/link-pool.ts) and skips the dial, ICE and DTLS of a fresh one.
//
// With hi = cohortSize and lo = ⌈hi / 2⌉, formCohorts:
//   1. keeps each previous cohort's members that are still ready, in their order; a cohort
//      above hi (the run's cohortSize shrank) passes its tail to the newcomers;
//   2. moves out a member none of whose links in its cohort connected last round, when the
//      others have at least one link that did (it is the odd one out, not a cohort where
//      WebRTC connects nowhere): into the smallest other cohort with room, else it stays;
//   3. fills cohorts below lo from the newcomers (address order);
//   4. merges cohorts still below lo pairwise (two of them never exceed hi), and dissolves a
//      last one into cohorts with room;
//   5. seats the remaining newcomers in the smallest cohort with room;
//   6. deals the rest round-robin into ⌈rest / hi⌉ new cohorts (with no previous cohorts this
//      is the whole formation); a new cohort below lo takes members from the largest cohorts
//      above lo.
// So one join or leave changes one cohort, or two where the sizes leave [lo, hi] (a merge, a
// donor); every other cohort is seated exactly as before. Deterministic from its inputs; O(N)
// for a fixed cohortSize. Quarantined identities are not its business: the engine seats each alone.
import type { Address } from 'viem';

export interface SeatingInput {
  /** The ready, not quarantined accounts, one each (lower-case), in address order. */
  ready: readonly Address[];
  /** Last round's cohorts of those accounts (the engine's previous formation). */
  previous: readonly (readonly Address[])[];
  /** Pairs whose link did not connect last round (pairKey): a member relayed its frame to the other. */
  unreached: ReadonlySet<string>;
  cohortSize: number;
}

/** One key per unordered pair of accounts. */
export const pairKey = (a: Address, b: Address): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

export function formCohorts({ ready, previous, unreached, cohortSize: hi }: SeatingInput): Address[][] {
  const lo = Math.ceil(hi / 2);
  const isReady = new Set(ready);
  const seated = new Set<Address>();
  const cohorts: Address[][] = [];
  const moved: { member: Address; from: number }[] = [];
  const newcomers: Address[] = [];

  // 1 and 2: what stays of each previous cohort.
  for (const prev of previous) {
    const kept = prev.filter((a) => isReady.has(a) && !seated.has(a));
    for (const a of kept) seated.add(a);
    if (!kept.length) continue;
    if (kept.length > hi) newcomers.push(...kept.splice(hi));
    const connected = (a: Address) => kept.some((b) => b !== a && !unreached.has(pairKey(a, b)));
    const lonely = kept.filter((a) => !connected(a));
    // Only an odd one out moves: where nothing connected, moving members reshuffles for nothing.
    if (lonely.length && lonely.length < kept.length - 1) for (const a of lonely) moved.push({ member: a, from: cohorts.length });
    cohorts.push(kept);
  }
  for (const a of ready) if (!seated.has(a)) newcomers.push(a);

  const rooms = new SizeQueue(cohorts, hi);
  for (const { member, from } of moved) {
    const to = rooms.smallest(from);
    if (to < 0) continue;
    cohorts[from].splice(cohorts[from].indexOf(member), 1);
    rooms.queue(from);
    rooms.add(to, member);
  }

  // 3: newcomers first fill the cohorts below lo.
  let next = 0;
  for (let i = 0; i < cohorts.length && next < newcomers.length; i++) while (cohorts[i].length < lo && next < newcomers.length) rooms.add(i, newcomers[next++]);

  // 4: what is still below lo (the newcomers ran out) merges: two cohorts below lo never exceed hi.
  let target = -1;
  for (let i = 0; i < cohorts.length; i++) {
    if (cohorts[i].length >= lo) continue;
    if (target < 0 || cohorts[target].length >= lo) target = i;
    else for (const m of cohorts[i].splice(0)) rooms.add(target, m);
  }
  if (target >= 0 && cohorts[target].length < lo) {
    // One cohort with room for all of them, else donors, else spread: as few cohorts change as can.
    const need = cohorts[target].length;
    let into = -1;
    for (let i = 0; i < cohorts.length; i++)
      if (i !== target && cohorts[i].length > 0 && hi - cohorts[i].length >= need && (into < 0 || cohorts[i].length < cohorts[into].length)) into = i;
    const room = cohorts.reduce((s, c, i) => (i === target || c.length === 0 ? s : s + Math.max(0, hi - c.length)), 0);
    const spare = cohorts.reduce((s, c, i) => (i === target ? s : s + Math.max(0, c.length - lo)), 0);
    if (into >= 0) for (const m of cohorts[target].splice(0)) rooms.add(into, m);
    else if (spare >= lo - need || room < need) takeDonors(cohorts, target, lo, rooms);
    else for (const m of cohorts[target].splice(0)) rooms.add(rooms.smallest(target), m);
  }

  // 5: the remaining newcomers join the smallest cohort with room.
  for (let to = rooms.smallest(); next < newcomers.length && to >= 0; to = rooms.smallest()) rooms.add(to, newcomers[next++]);

  // 6: new cohorts for the rest, dealt round-robin.
  const rest = newcomers.slice(next);
  if (rest.length) {
    const fresh: Address[][] = Array.from({ length: Math.ceil(rest.length / hi) }, () => []);
    rest.forEach((a, i) => fresh[i % fresh.length].push(a));
    cohorts.push(...fresh);
    const last = cohorts.length - 1;
    if (cohorts[last].length < lo) takeDonors(cohorts, last, lo);
  }
  return cohorts.filter((c) => c.length > 0);
}

/** Raises cohort `to` towards lo with the last members of the largest cohorts above lo, one donor at a time. */
function takeDonors(cohorts: Address[][], to: number, lo: number, rooms?: SizeQueue): void {
  while (cohorts[to].length < lo) {
    let donor = -1;
    for (let i = 0; i < cohorts.length; i++) if (i !== to && cohorts[i].length > lo && (donor < 0 || cohorts[i].length > cohorts[donor].length)) donor = i;
    if (donor < 0) return;
    while (cohorts[to].length < lo && cohorts[donor].length > lo) cohorts[to].push(cohorts[donor].pop()!);
    rooms?.queue(donor);
    rooms?.queue(to);
  }
}

/**
 * The smallest cohort with room (< hi members), ties to the one queued first: buckets by size
 * with lazy deletion, so seating N members costs O(N · hi), not O(N · cohorts).
 */
class SizeQueue {
  private readonly buckets: number[][];
  private readonly heads: number[];

  constructor(
    private readonly cohorts: Address[][],
    private readonly hi: number,
  ) {
    this.buckets = Array.from({ length: hi }, () => []);
    this.heads = new Array<number>(hi).fill(0);
    cohorts.forEach((_, i) => this.queue(i));
  }

  add(i: number, member: Address): void {
    this.cohorts[i].push(member);
    this.queue(i);
  }

  /** -1 when every cohort (but `except`) is full. */
  smallest(except = -1): number {
    for (let size = 0; size < this.hi; size++) {
      const b = this.buckets[size];
      for (let j = this.heads[size]; j < b.length; j++) {
        const i = b[j];
        if (this.cohorts[i].length !== size) {
          if (j === this.heads[size]) this.heads[size]++;
          continue;
        }
        if (i !== except) return i;
      }
    }
    return -1;
  }

  /** Call after cohort i changed size outside add(). */
  queue(i: number): void {
    const size = this.cohorts[i].length;
    if (size < this.hi) this.buckets[size].push(i);
  }
}

/**
 * The engine's memory between rounds: the last formation, and the pairs whose link did not
 * connect in the round it seated (noted from relays: a member relays its frame only to the
 * members its WebRTC link could not deliver it to).
 */
export class CohortSeating {
  private previous: Address[][] = [];
  private unreached = new Set<string>();

  constructor(private readonly cohortSize: number) {}

  /** The next round's cohorts for these ready accounts (address order, one each); forgets last round's links. */
  form(ready: readonly Address[]): Address[][] {
    const cohorts = formCohorts({ ready, previous: this.previous, unreached: this.unreached, cohortSize: this.cohortSize });
    this.previous = cohorts;
    this.unreached = new Set();
    return cohorts;
  }

  /** `from` relayed its frame to `to` (members of its cohort, checked by the engine): those links did not connect. */
  noteUnreached(from: Address, to: Iterable<Address>): void {
    for (const a of to) if (a !== from) this.unreached.add(pairKey(from, a));
  }
}
