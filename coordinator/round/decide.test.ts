// decideRound as a table, in the style of hivemind's protocol-state tests: each row is a
// small open round — cohorts, what each member signed (its frame, the frames it aggregated,
// the aggregate it voted for), what was uploaded, which cohorts are quarantined — and the
// outcome expected for every member, plus which aggregates are applied and which withheld.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { REJECTIONS, type RejectionCode } from '../../shared/wire/index.ts';
import { commitAt, decideRound, quorumOf, type RoundReport } from './decide.ts';

type Outcome = 'accepted' | RejectionCode | 'no report';

interface Row {
  name: string;
  /** Members by name, per cohort. */
  cohorts: string[][];
  /** What each reporting member signed: its frame, the frames its aggregate holds, the aggregate it voted for. */
  reports: Record<string, { frame: string; frames: string[]; votes: string }>;
  uploaded: string[];
  quarantined?: number[];
  expect: Record<string, Outcome>;
  applied: string[];
  withheld?: string[];
  /** Which applied aggregates are relays (a single member's frame); checked when given. */
  relays?: string[];
  /** Prose a member's refusal must match; checked when given. */
  prose?: Record<string, RegExp>;
  /** Reports from accounts not seated in the cohort they name. */
  outsiders?: Record<string, { cohort: number; frame: string; frames: string[]; votes: string }>;
}

// Short names stand for addresses and hashes; hashes compare as the names do.
const addr = (name: string) =>
  `0x${[...name]
    .map((c) => c.charCodeAt(0).toString(16))
    .join('')
    .padStart(40, '0')}` as Address;
const hash = (name: string) => `0x${name}` as Hex;
const SAMPLES = 64;
const run = { rewards: { weiPerSample: '1000', epochRounds: 1 } };

const rows: Row[] = [
  {
    name: 'everyone votes the uploaded aggregate of all three frames',
    cohorts: [['a', 'b', 'c']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
    },
    uploaded: ['g1'],
    expect: { a: 'accepted', b: 'accepted', c: 'accepted' },
    applied: ['g1'],
  },
  {
    name: 'two of three is a quorum; the member who signed another aggregate gets NO_QUORUM',
    cohorts: [['a', 'b', 'c']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fc'], votes: 'g2' },
    },
    uploaded: ['g1', 'g2'],
    expect: { a: 'accepted', b: 'accepted', c: 'NO_QUORUM' },
    applied: ['g1'],
  },
  {
    name: 'three of five is a majority but not two thirds: nobody is accepted',
    cohorts: [['a', 'b', 'c', 'd', 'e']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      d: { frame: 'fd', frames: ['fd', 'fe'], votes: 'g2' },
      e: { frame: 'fe', frames: ['fd', 'fe'], votes: 'g2' },
    },
    uploaded: ['g1', 'g2'],
    expect: { a: 'NO_QUORUM', b: 'NO_QUORUM', c: 'NO_QUORUM', d: 'NO_QUORUM', e: 'NO_QUORUM' },
    applied: [],
  },
  {
    name: 'a split vote among three: no aggregate reaches the quorum',
    cohorts: [['a', 'b', 'c']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fb', 'fc'], votes: 'g2' },
      c: { frame: 'fc', frames: ['fa', 'fc'], votes: 'g3' },
    },
    uploaded: ['g1', 'g2', 'g3'],
    expect: { a: 'NO_QUORUM', b: 'NO_QUORUM', c: 'NO_QUORUM' },
    applied: [],
  },
  {
    name: 'the quorum counts reporting members: two of three reported and agree',
    cohorts: [['a', 'b', 'c']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' } },
    uploaded: ['g1'],
    expect: { a: 'accepted', b: 'accepted', c: 'no report' },
    applied: ['g1'],
  },
  {
    name: 'a signed aggregate that was never uploaded: AGGREGATE_MISSING',
    cohorts: [['a', 'b', 'c']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
    },
    uploaded: [],
    expect: { a: 'AGGREGATE_MISSING', b: 'AGGREGATE_MISSING', c: 'AGGREGATE_MISSING' },
    applied: [],
  },
  {
    name: 'the aggregator refused a frame: its member voted the winner but is LEFT_OUT',
    cohorts: [['a', 'b', 'c']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb'], votes: 'g1' },
    },
    uploaded: ['g1'],
    expect: { a: 'accepted', b: 'accepted', c: 'LEFT_OUT' },
    applied: ['g1'],
  },
  {
    name: "the uploader omitted a member whose frame the vote keeps: it signed the winner's frames plus its own, AGGREGATE_MISSING (not conduct)",
    cohorts: [['a', 'b', 'c']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'gc' },
    },
    uploaded: ['g1'],
    expect: { a: 'accepted', b: 'accepted', c: 'AGGREGATE_MISSING' },
    prose: { c: /plus its own, which the uploader left out.*not this member's conduct/ },
    applied: ['g1'],
  },
  {
    name: 'an uploader that omits two of five members whose frames the vote keeps loses the quorum, its own credit with it',
    cohorts: [['a', 'b', 'c', 'd', 'e']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      d: { frame: 'fd', frames: ['fa', 'fb', 'fc', 'fd'], votes: 'gd' },
      e: { frame: 'fe', frames: ['fa', 'fb', 'fc', 'fe'], votes: 'ge' },
    },
    uploaded: ['g1'],
    expect: { a: 'NO_QUORUM', b: 'NO_QUORUM', c: 'NO_QUORUM', d: 'AGGREGATE_MISSING', e: 'AGGREGATE_MISSING' },
    applied: [],
  },
  {
    name: 'relay mode: WebRTC failed, each member uploads its own frame alone',
    cohorts: [['a', 'b']],
    reports: { a: { frame: 'fa', frames: ['fa'], votes: 'ra' }, b: { frame: 'fb', frames: ['fb'], votes: 'rb' } },
    uploaded: ['ra', 'rb'],
    expect: { a: 'accepted', b: 'accepted' },
    applied: ['ra', 'rb'],
  },
  {
    name: 'relay mode needs the upload: a relay member whose frame never arrived is AGGREGATE_MISSING',
    cohorts: [['a', 'b']],
    reports: { a: { frame: 'fa', frames: ['fa'], votes: 'ra' }, b: { frame: 'fb', frames: ['fb'], votes: 'rb' } },
    uploaded: ['ra'],
    expect: { a: 'accepted', b: 'AGGREGATE_MISSING' },
    applied: ['ra'],
  },
  {
    name: 'a frame already in the winner is not counted again as a relay',
    cohorts: [['a', 'b', 'c']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fc'], votes: 'rc' },
    },
    uploaded: ['g1', 'rc'],
    expect: { a: 'accepted', b: 'accepted', c: 'NO_QUORUM' },
    applied: ['g1'],
  },
  {
    name: 'one vote is never a quorum, even alone in a cohort, unless it is a relay of its own frame',
    cohorts: [['a'], ['b']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fx'], votes: 'g1' }, b: { frame: 'fb', frames: ['fb'], votes: 'rb' } },
    uploaded: ['g1', 'rb'],
    expect: { a: 'NO_QUORUM', b: 'accepted' },
    applied: ['rb'],
  },
  {
    name: 'two cohorts decide independently; applied in cohort order',
    cohorts: [
      ['a', 'b', 'c'],
      ['d', 'e', 'f'],
    ],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g2' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g2' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g2' },
      d: { frame: 'fd', frames: ['fd', 'fe', 'ff'], votes: 'g1' },
      e: { frame: 'fe', frames: ['fd', 'fe', 'ff'], votes: 'g1' },
      f: { frame: 'ff', frames: ['ff'], votes: 'g9' },
    },
    uploaded: ['g1', 'g2'],
    expect: { a: 'accepted', b: 'accepted', c: 'accepted', d: 'accepted', e: 'accepted', f: 'AGGREGATE_MISSING' },
    applied: ['g2', 'g1'],
  },
  {
    name: 'a quarantined identity trains alone: accepted for its spot check, its update withheld',
    cohorts: [['a', 'b'], ['q']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' },
      q: { frame: 'fq', frames: ['fq'], votes: 'rq' },
    },
    uploaded: ['g1', 'rq'],
    quarantined: [1],
    expect: { a: 'accepted', b: 'accepted', q: 'accepted' },
    applied: ['g1'],
    withheld: ['rq'],
  },
  {
    name: "a quarantined member cannot withhold another cohort's aggregate by voting its hash",
    cohorts: [['a', 'b'], ['q']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' },
      q: { frame: 'fq', frames: ['fq'], votes: 'g1' },
    },
    uploaded: ['g1'],
    quarantined: [1],
    expect: { a: 'accepted', b: 'accepted', q: 'FOREIGN_AGGREGATE' },
    applied: ['g1'],
  },
  // Issue 14 item 4: cohorts and relays.
  {
    name: "a member names another cohort's aggregate as its relay: it is refused, the owners are credited, the aggregate is applied once",
    cohorts: [['x'], ['a', 'b', 'c']],
    reports: {
      x: { frame: 'fx', frames: ['fx'], votes: 'g1' },
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
    },
    uploaded: ['g1'],
    expect: { x: 'FOREIGN_AGGREGATE', a: 'accepted', b: 'accepted', c: 'accepted' },
    applied: ['g1'],
    relays: [],
  },
  {
    name: "two colluders of one cohort vote another cohort's aggregate: it holds none of their frames, so it is not theirs",
    cohorts: [
      ['x', 'y'],
      ['a', 'b', 'c'],
    ],
    reports: {
      x: { frame: 'fx', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      y: { frame: 'fy', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
    },
    uploaded: ['g1'],
    expect: { x: 'FOREIGN_AGGREGATE', y: 'FOREIGN_AGGREGATE', a: 'accepted', b: 'accepted', c: 'accepted' },
    applied: ['g1'],
  },
  {
    name: "colluders claiming their own frames are in another cohort's aggregate: it goes to the cohort with more of its frames inside",
    cohorts: [
      ['x', 'y'],
      ['a', 'b', 'c'],
    ],
    reports: {
      x: { frame: 'fx', frames: ['fx', 'fy', 'fz'], votes: 'g1' },
      y: { frame: 'fy', frames: ['fx', 'fy', 'fz'], votes: 'g1' },
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
    },
    uploaded: ['g1'],
    expect: { x: 'FOREIGN_AGGREGATE', y: 'FOREIGN_AGGREGATE', a: 'accepted', b: 'accepted', c: 'accepted' },
    applied: ['g1'],
  },
  {
    name: "a relay names a lower-hash near-copy of another cohort's aggregate: decideRound chooses both, the copy marked a relay (the combine then refuses the relay, not the cohort: engine.test)",
    cohorts: [['x'], ['a', 'b', 'c']],
    reports: {
      x: { frame: 'fx', frames: ['fx'], votes: 'g0' },
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
    },
    uploaded: ['g0', 'g1'],
    expect: { x: 'accepted', a: 'accepted', b: 'accepted', c: 'accepted' },
    applied: ['g0', 'g1'],
    relays: ['g0'],
  },
  {
    name: "a relay upload of someone else's frame: the member who named it later is refused, its author keeps it",
    cohorts: [['a', 'b'], ['x']],
    reports: {
      a: { frame: 'fa', frames: ['fa'], votes: 'ra' },
      b: { frame: 'fb', frames: ['fb'], votes: 'rb' },
      x: { frame: 'fx', frames: ['fx'], votes: 'ra' },
    },
    uploaded: ['ra', 'rb'],
    expect: { a: 'accepted', b: 'accepted', x: 'FOREIGN_AGGREGATE' },
    applied: ['ra', 'rb'],
    relays: ['ra', 'rb'],
  },
  {
    name: 'an upload no seated member names, and a report from an account not seated in its cohort, count for nothing',
    cohorts: [['a', 'b']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' } },
    outsiders: { z: { cohort: 0, frame: 'fz', frames: ['fz'], votes: 'gz' } },
    uploaded: ['g1', 'gz'],
    expect: { a: 'accepted', b: 'accepted', z: 'NO_QUORUM' },
    applied: ['g1'],
  },
  {
    name: "the per-cohort bound: a flood of uploads beside a cohort's vote applies only what its members named",
    cohorts: [['a', 'b']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' } },
    uploaded: ['g1', 'g2', 'g3', 'g4', 'g5', 'g6'],
    expect: { a: 'accepted', b: 'accepted' },
    applied: ['g1'],
  },
];

for (const row of rows) {
  test(`decideRound: ${row.name}`, () => {
    const ids = new Map<number, string>();
    const reports: RoundReport[] = [];
    row.cohorts.forEach((members, cohort) => {
      for (const m of members) {
        const r = row.reports[m];
        if (!r) continue;
        const id = reports.length + 1;
        ids.set(id, m);
        reports.push({
          id,
          account: addr(m),
          cohort,
          frameHash: hash(r.frame),
          aggregateHash: hash(r.votes),
          frameHashes: r.frames.map(hash),
          samples: SAMPLES,
        });
      }
    });
    for (const [m, r] of Object.entries(row.outsiders ?? {})) {
      const id = reports.length + 1;
      ids.set(id, m);
      reports.push({
        id,
        account: addr(m),
        cohort: r.cohort,
        frameHash: hash(r.frame),
        aggregateHash: hash(r.votes),
        frameHashes: r.frames.map(hash),
        samples: SAMPLES,
      });
    }
    const d = decideRound(
      {
        cohorts: row.cohorts.map((c) => c.map((m) => ({ address: addr(m) }))),
        reports,
        aggregates: new Map(row.uploaded.map((u) => [hash(u), `frame ${u}`])),
        quarantined: new Set(row.quarantined ?? []),
      },
      run,
    );
    const got: Record<string, Outcome> = Object.fromEntries(
      [...row.cohorts.flat(), ...Object.keys(row.outsiders ?? {})].map((m) => [m, 'no report' as Outcome]),
    );
    for (const a of d.accepted) got[ids.get(a.id)!] = 'accepted';
    for (const r of d.rejected) got[ids.get(r.id)!] = r.rejection.code;
    assert.deepEqual(got, row.expect);
    assert.equal(d.accepted.length + d.rejected.length, reports.length, 'every report is decided exactly once');
    for (const a of d.accepted) assert.equal(a.creditWei, BigInt(SAMPLES) * 1000n, 'credit is samples × weiPerSample');
    for (const r of d.rejected) assert.ok(r.rejection.prose.length > 0, 'every rejection carries its prose');
    for (const [m, re] of Object.entries(row.prose ?? {})) {
      const r = d.rejected.find((x) => ids.get(x.id) === m);
      assert.match(r?.rejection.prose ?? '(accepted)', re, m);
      assert.equal(REJECTIONS[r!.rejection.code].conduct, false, `${m}'s refusal is not counted as its conduct`);
    }
    assert.deepEqual(
      d.applied.map((c) => c.hash),
      row.applied.map(hash),
    );
    assert.deepEqual(
      d.applied.map((c) => c.frame),
      row.applied.map((u) => `frame ${u}`),
      'each chosen hash comes with its uploaded frame',
    );
    assert.deepEqual(
      d.withheld.map((c) => c.hash),
      (row.withheld ?? []).map(hash),
    );
    assert.equal(new Set(d.applied.map((c) => c.hash)).size, d.applied.length, 'an aggregate is applied at most once');
    if (row.relays)
      assert.deepEqual(
        d.applied.filter((c) => c.relay).map((c) => c.hash),
        row.relays.map(hash),
      );
  });
}

test('quorumOf: two thirds of the reporting members, never fewer than two', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 9].map(quorumOf), [2, 2, 2, 3, 4, 4, 5, 6]);
});

// When a round commits (issue 14): never before startsAt + trainMs, even with every report in.
// Each row: an open round (startsAt 1,000; trainMs 20,000, exchange 8,000, report 5,000 →
// reportEndsAt 34,000), whether everyone is in, and the earliest commit time.
test('commitAt: everyone in commits at the end of the training window at the earliest; otherwise at the report deadline', () => {
  const timing = { trainMs: 20_000, exchangeMs: 8_000, reportMs: 5_000 };
  const open = { startsAt: 1_000, reportEndsAt: 34_000 };
  const rows: { name: string; everyoneIn: boolean; timing?: typeof timing; expect: number }[] = [
    { name: 'every report in (however early): not before startsAt + trainMs', everyoneIn: true, expect: 21_000 },
    { name: 'reports missing: the report deadline', everyoneIn: false, expect: 34_000 },
    {
      name: 'a training window longer than the round (misconfigured): the report deadline still ends it',
      everyoneIn: true,
      timing: { ...timing, trainMs: 99_000 },
      expect: 34_000,
    },
  ];
  for (const row of rows) assert.equal(commitAt(open, { timing: row.timing ?? timing }, row.everyoneIn), row.expect, row.name);
});
