// Issue 17 item 3: the hierarchical combine's record, stored with the committed round, lets an
// auditor redo it. 70 one-member cohorts (each member uploads its own single-frame aggregate, as a
// relay member does) make 70 kept aggregates: two level-1 groups and one level-2 group. The
// engine commits the round on an in-memory PGlite ledger; the record read back from the ledger is
// redone from the uploaded frames alone (shared/robust-combine.ts auditCombine), and its last
// group's frame is the published update, which takes θ_0 to the committed model hash. A record
// with one input swapped, or an auditor missing a frame, does not pass. Once per combine version
// (shared/aggregate.ts CombineVersion): the record names the version, the auditor redoes it with
// that one; a row written before versions reads as 1, and a version the auditor does not know is
// refused by name.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { maxSamplesPerReport } from '../../shared/config.ts';
import { COMBINE_VERSIONS, type CombineVersion } from '../../shared/aggregate.ts';
import { decodeFrame, toDense } from '../../shared/codec.ts';
import { aggregateLimits, applyGlobalUpdate, cohortAggregate, encodeOwnUpdate, peerUpdateLimits } from '../../shared/round.ts';
import { auditCombine, COMBINE_GROUP_SIZE, parseCombineRecord } from '../../shared/robust-combine.ts';
import { createRng, gaussian } from '../../shared/rng.ts';
import { engineTestRun, NOW, readyEngine, reportRound0 } from './engine.fixture.ts';

const MEMBERS = 70;
// A small MLP (784-8-10, 6,370 parameters): the combine's groups are what is tested, not its speed.
// The exact download, so that the combine's last frame is the published update byte for byte (the
// MLP default compresses it with the coordinator's residual, which is not published).
const runAt = (combineVersion: CombineVersion) =>
  engineTestRun({ sizes: [784, 8, 10], minVolunteers: MEMBERS, cohortSize: 1, globalUpdate: 'exact', combineVersion });
/** The published update of each version's round (the same frames: the same seed and members). */
const published = new Map<CombineVersion, Uint8Array>();

for (const version of COMBINE_VERSIONS)
  test(
    `version ${version}: a round of 70 cohort aggregates: its combine groups are stored, and an auditor redoes them from the frames`,
    { timeout: 120_000 },
    (t) => roundAudited(t, version),
  );

// (At this size, 35 frames of 190 values in a group, the two versions' float64 sums differ by less
// than float32 keeps: the bytes may be equal. shared/combine-version.test.ts has inputs where they are not.)
test('the two versions commit updates close to each other from the same frames', () => {
  const [a, b] = COMBINE_VERSIONS.map((v) => published.get(v));
  if (!a || !b) return assert.fail('both versions committed a round');
  const [x, y] = [a, b].map((bytes) => toDense(decodeFrame(bytes, aggregateLimits(runAt(1), 0))));
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < x.length; i++) ((diff += (x[i] - y[i]) ** 2), (norm += x[i] ** 2));
  assert.ok(Math.sqrt(diff / norm) < 1e-5, `relative L2 of the two updates ${Math.sqrt(diff / norm)}`);
});

async function roundAudited(t: TestContext, version: CombineVersion): Promise<void> {
  const run = runAt(version);
  assert.ok(MEMBERS > COMBINE_GROUP_SIZE, 'enough aggregates for a second level');
  const { ledger, theta0, engine, keys, sessions, summary, clock } = await readyEngine(run, MEMBERS, t);
  assert.equal(engine.openRound?.cohorts.length, MEMBERS);

  // Honest pseudo-gradients: one direction plus each member's noise.
  const rng = createRng(5);
  const direction = Float32Array.from({ length: run.paramCount }, () => gaussian(rng) * 1e-3);
  const samples = Math.min(maxSamplesPerReport(run), run.inner.steps * run.inner.batchSize);
  const uploaded = new Map<Hex, Uint8Array>();
  const cohortOf = new Map(engine.openRound!.cohorts.map((c, id) => [c[0].address, id]));
  for (const [i, s] of sessions.entries()) {
    const own = encodeOwnUpdate(
      run,
      0,
      direction.map((x) => x + gaussian(rng) * 1e-3),
      samples,
    );
    const agg = cohortAggregate(run, 0, { address: s.address, hash: own.hash, frame: decodeFrame(own.bytes, peerUpdateLimits(run, 0)) }, []);
    await reportRound0(engine, run, s, keys[i], {
      cohort: cohortOf.get(s.address)!,
      own,
      agg: { aggregateHash: agg.aggregateHash, hashes: agg.hashes },
      samples,
      nonce: BigInt(i + 1),
    });
    // Everything is in only once the training window has ended (the round commits then, not before).
    if (i === MEMBERS - 1) clock.now = NOW + run.timing.trainMs;
    uploaded.set(await engine.handleAggregate(0, agg.bytes), agg.bytes);
  }
  const s = await summary;
  assert.equal(s.contributions, MEMBERS, 'every honest aggregate is accepted');

  // The stored record: every uploaded aggregate in exactly one level-1 group, then one group above.
  const stored = await ledger.combineRecord(run.id, 0);
  assert.ok(stored);
  assert.equal(stored.version, version, 'the record names the version the round was combined with');
  const record = parseCombineRecord(JSON.parse(JSON.stringify({ run: run.id, round: 0, ...stored })));
  assert.equal(record.version, version);
  assert.deepEqual(
    record.groups.map((g) => g.level),
    [1, 1, 2],
  );
  assert.deepEqual(
    record.groups
      .filter((g) => g.level === 1)
      .flatMap((g) => g.inputs)
      .sort(),
    [...uploaded.keys()].sort(),
  );
  assert.deepEqual(record.groups[2].inputs, [record.groups[0].output, record.groups[1].output].sort(), 'the second level combines the first level outputs');
  assert.equal(record.groups[2].samples, MEMBERS * samples);
  assert.equal(await ledger.combineRecord(run.id, 1), null, 'no record for a round not committed');

  // The auditor redoes every group from the uploaded frames and reaches the published update.
  const audit = auditCombine(run, record, (h) => uploaded.get(h));
  assert.deepEqual(audit.mismatches, []);
  assert.equal(audit.matched, 3);
  const update = await ledger.update(run.id, 0);
  assert.ok(update && audit.combined);
  assert.deepEqual(audit.combined, update, "the last group's frame is the published (exact) update");
  assert.equal((await applyGlobalUpdate({ ...theta0, run: run.id, paramTableHash: run.paramTableHash }, audit.combined, run)).modelHash, s.modelHash);
  published.set(version, update);

  if (version === 1) {
    // A row written before combine versions (no version) reads as 1 and audits.
    await ledger.sql.query(`update round_combines set version = null where run_id = $1 and round = 0`, [run.id]);
    const old = await ledger.combineRecord(run.id, 0);
    assert.equal(old?.version, 1);
    const { version: _, ...unversioned } = old!;
    const parsed = parseCombineRecord(JSON.parse(JSON.stringify({ run: run.id, round: 0, ...unversioned })));
    assert.equal(parsed.version, 1);
    assert.deepEqual(auditCombine(run, parsed, (h) => uploaded.get(h)).combined, update);
  }
  // A version this auditor does not know is refused by name, never redone with another.
  await ledger.sql.query(`update round_combines set version = 3 where run_id = $1 and round = 0`, [run.id]);
  const future = await ledger.combineRecord(run.id, 0);
  assert.throws(
    () => parseCombineRecord(JSON.parse(JSON.stringify({ run: run.id, round: 0, ...future }))),
    /combine record version: unknown combine version 3 \(this code knows 1, 2\): this auditor cannot redo the round's combine/,
  );
  assert.throws(() => auditCombine(run, { ...record, version: 3 as CombineVersion }, (h) => uploaded.get(h)), /round 0: version: unknown combine version 3/);

  // A record that lies about a group's membership, or an auditor without one input, does not pass.
  const [a, b] = [record.groups[0], record.groups[1]];
  const swapped = {
    ...record,
    groups: [{ ...a, inputs: [...a.inputs.slice(1), b.inputs[0]].sort() }, { ...b, inputs: [...b.inputs.slice(1), a.inputs[0]].sort() }, record.groups[2]],
  };
  const lie = auditCombine(run, swapped, (h) => uploaded.get(h));
  assert.deepEqual(
    lie.mismatches.map((m) => [m.level, m.group]),
    [
      [1, 0],
      [1, 1],
      [2, 2],
    ],
  );
  assert.equal(lie.combined, null);
  const partial = auditCombine(run, record, (h) => (h === a.inputs[0] ? undefined : uploaded.get(h)));
  assert.match(partial.mismatches[0]?.detail ?? '', /is not held/);
  assert.throws(() => parseCombineRecord({ run: 1, round: 0, groups: [{ level: 0, inputs: [a.output], output: a.output, samples: 1 }] }), /groups\[0\]\.level/);
}
