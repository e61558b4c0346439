// decideRound as a table, in the style of hivemind's protocol-state tests: each row is a
// small open round — cohorts, what each member signed (its frame, the frames it aggregated,
// the aggregate it voted for), what was uploaded, which cohorts are quarantined — and the
// outcome expected for every member, plus which aggregates are applied and which withheld.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import type { RejectionCode } from '../../shared/wire/index.ts';
import { decideRound, quorumOf, type RoundReport } from './decide.ts';

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
}

// Short names stand for addresses and hashes; hashes compare as the names do.
const addr = (name: string) => `0x${[...name].map((c) => c.charCodeAt(0).toString(16)).join('').padStart(40, '0')}` as Address;
const hash = (name: string) => `0x${name}` as Hex;
const SAMPLES = 64;
const run = { rewards: { weiPerSample: '1000', epochRounds: 1 } };

const rows: Row[] = [
  {
    name: 'everyone votes the uploaded aggregate of all three frames',
    cohorts: [['a', 'b', 'c']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' } },
    uploaded: ['g1'],
    expect: { a: 'accepted', b: 'accepted', c: 'accepted' },
    applied: ['g1'],
  },
  {
    name: 'two of three is a quorum; the member who signed another aggregate gets NO_QUORUM',
    cohorts: [['a', 'b', 'c']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, c: { frame: 'fc', frames: ['fa', 'fc'], votes: 'g2' } },
    uploaded: ['g1', 'g2'],
    expect: { a: 'accepted', b: 'accepted', c: 'NO_QUORUM' },
    applied: ['g1'],
  },
  {
    name: 'three of five is a majority but not two thirds: nobody is accepted',
    cohorts: [['a', 'b', 'c', 'd', 'e']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' },
      d: { frame: 'fd', frames: ['fd', 'fe'], votes: 'g2' }, e: { frame: 'fe', frames: ['fd', 'fe'], votes: 'g2' },
    },
    uploaded: ['g1', 'g2'],
    expect: { a: 'NO_QUORUM', b: 'NO_QUORUM', c: 'NO_QUORUM', d: 'NO_QUORUM', e: 'NO_QUORUM' },
    applied: [],
  },
  {
    name: 'a split vote among three: no aggregate reaches the quorum',
    cohorts: [['a', 'b', 'c']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' }, b: { frame: 'fb', frames: ['fb', 'fc'], votes: 'g2' }, c: { frame: 'fc', frames: ['fa', 'fc'], votes: 'g3' } },
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
    reports: { a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g1' } },
    uploaded: [],
    expect: { a: 'AGGREGATE_MISSING', b: 'AGGREGATE_MISSING', c: 'AGGREGATE_MISSING' },
    applied: [],
  },
  {
    name: 'the aggregator refused a frame: its member voted the winner but is LEFT_OUT',
    cohorts: [['a', 'b', 'c']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' }, c: { frame: 'fc', frames: ['fa', 'fb'], votes: 'g1' } },
    uploaded: ['g1'],
    expect: { a: 'accepted', b: 'accepted', c: 'LEFT_OUT' },
    applied: ['g1'],
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
    reports: { a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g1' }, c: { frame: 'fc', frames: ['fc'], votes: 'rc' } },
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
    cohorts: [['a', 'b', 'c'], ['d', 'e', 'f']],
    reports: {
      a: { frame: 'fa', frames: ['fa', 'fb', 'fc'], votes: 'g2' }, b: { frame: 'fb', frames: ['fa', 'fb', 'fc'], votes: 'g2' }, c: { frame: 'fc', frames: ['fa', 'fb', 'fc'], votes: 'g2' },
      d: { frame: 'fd', frames: ['fd', 'fe', 'ff'], votes: 'g1' }, e: { frame: 'fe', frames: ['fd', 'fe', 'ff'], votes: 'g1' }, f: { frame: 'ff', frames: ['ff'], votes: 'g9' },
    },
    uploaded: ['g1', 'g2'],
    expect: { a: 'accepted', b: 'accepted', c: 'accepted', d: 'accepted', e: 'accepted', f: 'AGGREGATE_MISSING' },
    applied: ['g2', 'g1'],
  },
  {
    name: 'a quarantined identity trains alone: accepted for its spot check, its update withheld',
    cohorts: [['a', 'b'], ['q']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' }, q: { frame: 'fq', frames: ['fq'], votes: 'rq' } },
    uploaded: ['g1', 'rq'],
    quarantined: [1],
    expect: { a: 'accepted', b: 'accepted', q: 'accepted' },
    applied: ['g1'],
    withheld: ['rq'],
  },
  {
    name: 'a quarantined member cannot withhold another cohort\'s aggregate by voting its hash',
    cohorts: [['a', 'b'], ['q']],
    reports: { a: { frame: 'fa', frames: ['fa', 'fb'], votes: 'g1' }, b: { frame: 'fb', frames: ['fa', 'fb'], votes: 'g1' }, q: { frame: 'fq', frames: ['fq'], votes: 'g1' } },
    uploaded: ['g1'],
    quarantined: [1],
    expect: { a: 'accepted', b: 'accepted', q: 'NO_QUORUM' },
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
        reports.push({ id, account: addr(m), cohort, frameHash: hash(r.frame), aggregateHash: hash(r.votes), frameHashes: r.frames.map(hash), samples: SAMPLES });
      }
    });
    const d = decideRound(
      {
        cohorts: row.cohorts.map((c) => c.map((m) => ({ address: addr(m) }))),
        reports,
        aggregates: new Map(row.uploaded.map((u) => [hash(u), `frame ${u}`])),
        quarantined: new Set(row.quarantined ?? []),
      },
      run,
    );
    const got: Record<string, Outcome> = Object.fromEntries(row.cohorts.flat().map((m) => [m, 'no report' as Outcome]));
    for (const a of d.accepted) got[ids.get(a.id)!] = 'accepted';
    for (const r of d.rejected) got[ids.get(r.id)!] = r.rejection.code;
    assert.deepEqual(got, row.expect);
    assert.equal(d.accepted.length + d.rejected.length, reports.length, 'every report is decided exactly once');
    for (const a of d.accepted) assert.equal(a.creditWei, BigInt(SAMPLES) * 1000n, 'credit is samples × weiPerSample');
    for (const r of d.rejected) assert.ok(r.rejection.prose.length > 0, 'every rejection carries its prose');
    assert.deepEqual(d.applied.map((c) => c.hash), row.applied.map(hash));
    assert.deepEqual(d.applied.map((c) => c.frame), row.applied.map((u) => `frame ${u}`), 'each chosen hash comes with its uploaded frame');
    assert.deepEqual(d.withheld.map((c) => c.hash), (row.withheld ?? []).map(hash));
  });
}

test('quorumOf: two thirds of the reporting members, never fewer than two', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 9].map(quorumOf), [2, 2, 2, 3, 4, 4, 5, 6]);
});
