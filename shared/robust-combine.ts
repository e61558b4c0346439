// The coordinator's cross-cohort combine, hierarchical (issue 17 item 2). The round's cohort
// aggregates (and relay members' own frames) are screened once, all together (limits, non-finite,
// duplicates, empty, copycat: shared/aggregate.ts screenUpdates, near-linear), and the kept ones
// are combined in groups of at most COMBINE_GROUP_SIZE by the run's robust aggregator
// (combineScreened: clip, oppose, trimmed mean, centered-clip) into one aggregate frame per
// group; the group frames are combined the same way, level after level, until one group is left,
// whose frame is the round's global update. Each level's groups are independent, so aggregation
// workers run them in parallel (coordinator/round/combine-thread.ts); whoever commits touches
// only the last level's ≤ COMBINE_GROUP_SIZE frames.
//
// Deterministic: a group is a function of its inputs' bytes, and who is in which group is a
// function of the level's input hashes alone (ordered by keccak256(root ‖ hash), root = the
// framesRoot of all of them, so no one chooses their group by grinding a hash without knowing
// every other input). Every group is recorded (level, input hashes, output hash, samples): an
// auditor holding the inputs redoes any group with combineGroup and checks its hash.
//
// Up to COMBINE_GROUP_SIZE kept aggregates there is one group, and its frame is bit-identical
// to the flat combine (aggregateUpdates then encodeAggregate) of before. Above, the result is a
// robust combine of robust combines: not the flat one's numbers (a different estimator), though
// the same where the inputs agree. Only level 1 drops 'opposed' updates: a group result that
// points away from the others stands for up to 64 cohorts, and refusing it would blame them
// all; centered-clip still bounds its weight. The copycat check is not repeated above level 1:
// group results of the same honest direction are legitimately near one another.
// 'mean' and 'clipped-mean' (linear, one pass) are always flat.
//
// The combine's version (shared/aggregate.ts CombineVersion: how centered-clip sums) is the run's
// (RunSettings.combineVersion; a spec without one: 1), recorded with the groups; an auditor
// redoes a round with the version its record names (a record without one: 1) and refuses one it
// does not know.
import { concatHex, type Hex } from 'viem';
import {
  aggregateUpdates,
  combineScreened,
  combineVersionOf,
  framesRoot,
  l2Norm,
  screenUpdates,
  type AggregateResult,
  type CombineVersion,
  type WeightedUpdate,
} from './aggregate.ts';
import { decodeFrame, encodeAggregate, hashFrame, type DecodedFrame } from './codec.ts';
import type { RunSpec } from './config.ts';
import { keccak256 } from './keccak.ts';
import { aggregateLimits } from './round.ts';

/** Inputs per group of the hierarchical combine. */
export const COMBINE_GROUP_SIZE = 64;

/** One group of the hierarchical combine, as an auditor redoes it. */
export interface CombineGroup {
  /** 1: cohort aggregates; 2 and up: the level below's group frames. */
  level: number;
  /** Input frame hashes, ascending (level 1: the kept cohort aggregates of the group). */
  inputs: Hex[];
  /** Hash of the group's aggregate frame (the last group's is the global update's). */
  output: Hex;
  samples: number;
}

export interface Combined {
  /** The round's global update: an aggregate frame of the run, for `round`. */
  bytes: Uint8Array;
  /** Refused cohort aggregates (screen and level-1 'opposed'), in hash order. */
  excluded: AggregateResult['excluded'];
  /** Every group, level by level (one group when the combine was flat). */
  groups: CombineGroup[];
  /** How the groups were combined (CombineVersion), recorded with them. */
  version: CombineVersion;
}

/** The combine version a run's rounds use: its spec's, or 1 for a spec without one (runs made before versions). */
export const runCombineVersion = (run: Pick<RunSpec, 'combineVersion'>): CombineVersion =>
  run.combineVersion === undefined ? 1 : combineVersionOf(run.combineVersion, 'run.combineVersion');

/** A group's input: a decoded frame (level 1), or a lower group's frame bytes. */
export type GroupInput = { hash: Hex; frame: DecodedFrame } | { hash: Hex; bytes: Uint8Array };

export interface GroupOutput {
  bytes: Uint8Array;
  hash: Hex;
  samples: number;
  /** Level 1: the group's 'opposed' aggregates. */
  excluded: AggregateResult['excluded'];
}

/** Where the steps run: in this thread (inThread), or on aggregation workers. */
export interface CombineRunner {
  screen(aggregates: WeightedUpdate[]): Promise<{ kept: Hex[]; excluded: AggregateResult['excluded'] }>;
  group(level: number, inputs: GroupInput[], version: CombineVersion): Promise<GroupOutput>;
}

/** Screen step: which aggregates enter the combine (hashes, ascending) and which are refused. */
export function screenCohorts(run: RunSpec, aggregates: WeightedUpdate[]): { kept: Hex[]; excluded: AggregateResult['excluded'] } {
  const { kept, excluded } = screenUpdates(aggregates, run.paramCount, run.aggregator);
  return { kept: kept.map((k) => k.u.hash), excluded };
}

/**
 * One group: its inputs (already screened) through the run's robust combine at `version`, as an
 * aggregate frame. `hash` is hashFrame or a function returning exactly what it returns (the
 * aggregation threads use WebAssembly keccak, coordinator/round/frame-hasher.ts).
 */
export function combineGroup(
  run: RunSpec,
  round: number,
  level: number,
  inputs: GroupInput[],
  hash: (bytes: Uint8Array) => Hex = hashFrame,
  version: CombineVersion = runCombineVersion(run),
): GroupOutput {
  const limits = aggregateLimits(run, round);
  const updates = inputs
    .map((i) => ({ hash: i.hash, frame: 'frame' in i ? i.frame : decodeFrame(i.bytes, limits) }))
    .sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0))
    .map((u) => ({ u, norm: l2Norm(u.frame.values) }))
    // Above level 1 a group frame that came out zero carries nothing (level 1's were screened).
    .filter((s) => level === 1 || (s.norm > 0 && s.u.frame.header.samples > 0));
  const cfg = level === 1 ? run.aggregator : { ...run.aggregator, minCosine: undefined };
  const { dense, samples, excluded } = combineScreened(updates, [], run.paramCount, cfg, version);
  const bytes = encodeAggregate(dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round, samples });
  return { bytes, hash: hash(bytes), samples, excluded };
}

/** The level's inputs split into ⌈n / COMBINE_GROUP_SIZE⌉ groups of near-equal size, in keccak256(root ‖ hash) order. */
export function groupsOf(hashes: Hex[]): Hex[][] {
  const root = framesRoot(hashes);
  const keyed = hashes.map((h) => ({ h, key: keccak256(concatHex([root, h])) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const count = Math.ceil(keyed.length / COMBINE_GROUP_SIZE);
  return Array.from({ length: count }, (_, g) =>
    keyed
      .slice(Math.floor((g * keyed.length) / count), Math.floor(((g + 1) * keyed.length) / count))
      .map((k) => k.h)
      .sort(),
  );
}

/** The steps in this thread; `hash` as for combineGroup. */
export const inThread = (run: RunSpec, round: number, hash: (bytes: Uint8Array) => Hex = hashFrame): CombineRunner => ({
  screen: async (aggregates) => screenCohorts(run, aggregates),
  group: async (level, inputs, version) => combineGroup(run, round, level, inputs, hash, version),
});

/**
 * The coordinator's cross-cohort combine: the cohort aggregates of a round (and relay members'
 * own frames) through the run's robust aggregator, weighted by samples, as the round's global
 * update frame; hierarchical past COMBINE_GROUP_SIZE kept aggregates (see the top of this file).
 * Refused aggregates are listed with why; their members earn no credit.
 */
export async function combineCohorts(run: RunSpec, round: number, aggregates: WeightedUpdate[], runner = inThread(run, round)): Promise<Combined> {
  const header = { paramTableHash: run.paramTableHash, run: run.id, round };
  const version = runCombineVersion(run);
  if (run.aggregator.kind === 'mean' || run.aggregator.kind === 'clipped-mean') {
    const { dense, samples, included, excluded } = aggregateUpdates(aggregates, run.paramCount, run.aggregator, version);
    const bytes = encodeAggregate(dense, run.codec.chunkSize, { ...header, samples });
    return { bytes, excluded, groups: [{ level: 1, inputs: included, output: hashFrame(bytes), samples }], version };
  }
  const screened = await runner.screen(aggregates);
  const excluded = [...screened.excluded];
  if (screened.kept.length === 0) {
    const bytes = encodeAggregate(new Float32Array(run.paramCount), run.codec.chunkSize, { ...header, samples: 0 });
    return { bytes, excluded, groups: [], version };
  }
  const frames = new Map(aggregates.map((a) => [a.hash, a.frame]));
  let inputs: GroupInput[] = screened.kept.map((hash) => ({ hash, frame: frames.get(hash)! }));
  const groups: CombineGroup[] = [];
  for (let level = 1; ; level++) {
    const byHash = new Map(inputs.map((i) => [i.hash, i]));
    const members = inputs.length <= COMBINE_GROUP_SIZE ? [inputs.map((i) => i.hash).sort()] : groupsOf(inputs.map((i) => i.hash));
    const outputs = await Promise.all(
      members.map((hashes) =>
        runner.group(
          level,
          hashes.map((h) => byHash.get(h)!),
          version,
        ),
      ),
    );
    outputs.forEach((o, g) => {
      groups.push({ level, inputs: members[g], output: o.hash, samples: o.samples });
      excluded.push(...o.excluded);
    });
    if (outputs.length === 1) {
      excluded.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
      return { bytes: outputs[0].bytes, excluded, groups, version };
    }
    inputs = outputs.map((o) => ({ hash: o.hash, bytes: o.bytes }));
  }
}

/** A committed round's combine record as the coordinator serves it (GET /api/runs/:run/rounds/:round/combine). */
export interface CombineRecord {
  run: number;
  round: number;
  /** How its groups were combined; a served record without one was combined before versions: 1. */
  version: CombineVersion;
  groups: CombineGroup[];
}

const HASH = /^0x[0-9a-f]{64}$/;
/** Parses a served combine record, naming the failing keypath. */
export function parseCombineRecord(x: unknown): CombineRecord {
  const fail = (path: string, want: string, got: unknown): never => {
    throw new Error(`combine record ${path}: expected ${want}, got ${JSON.stringify(got)?.slice(0, 80)}`);
  };
  const int = (path: string, v: unknown, min: number) =>
    Number.isSafeInteger(v) && (v as number) >= min ? (v as number) : fail(path, `an integer ≥ ${min}`, v);
  const hash = (path: string, v: unknown) => (typeof v === 'string' && HASH.test(v) ? (v as Hex) : fail(path, 'a 0x-prefixed 32-byte lowercase hex hash', v));
  if (typeof x !== 'object' || x === null) return fail('', 'an object', x);
  const r = x as Record<string, unknown>;
  if (!Array.isArray(r.groups)) return fail('groups', 'an array', r.groups);
  let version: CombineVersion;
  try {
    version = r.version === undefined ? 1 : combineVersionOf(r.version, 'combine record version');
  } catch (e) {
    throw new Error(`${(e as Error).message}: this auditor cannot redo the round's combine`);
  }
  return {
    run: int('run', r.run, 0),
    round: int('round', r.round, 0),
    version,
    groups: r.groups.map((g: unknown, i) => {
      if (typeof g !== 'object' || g === null) return fail(`groups[${i}]`, 'an object', g);
      const o = g as Record<string, unknown>;
      if (!Array.isArray(o.inputs) || o.inputs.length === 0) return fail(`groups[${i}].inputs`, 'a non-empty array', o.inputs);
      return {
        level: int(`groups[${i}].level`, o.level, 1),
        inputs: o.inputs.map((h, j) => hash(`groups[${i}].inputs[${j}]`, h)),
        output: hash(`groups[${i}].output`, o.output),
        samples: int(`groups[${i}].samples`, o.samples, 0),
      };
    }),
  };
}

export interface CombineAudit {
  /** Groups whose redone output hash matched the record. */
  matched: number;
  /** Groups redone with a different output, or that could not be redone (an input frame missing or not decodable). */
  mismatches: { level: number; group: number; detail: string }[];
  /** The last group's frame when every group matched: the round's combined update (before any down-compression). */
  combined: Uint8Array | null;
}

/**
 * An auditor's check of a round's combine: every level-1 group redone from the cohort aggregates'
 * bytes (`frameOf(hash)`, e.g. what the cohorts' members hold), every higher group from the
 * redone frames below, each output hash compared with the record. The same combineGroup the
 * coordinator ran, at the record's version, so an honest record matches bit for bit; a version
 * this code does not know is refused (an error naming it), not redone with another.
 */
export function auditCombine(run: RunSpec, record: CombineRecord, frameOf: (hash: Hex) => Uint8Array | undefined): CombineAudit {
  const version = combineVersionOf(record.version ?? 1, `combine record of round ${record.round}: version`);
  const limits = aggregateLimits(run, record.round);
  const redone = new Map<Hex, Uint8Array>();
  const mismatches: CombineAudit['mismatches'] = [];
  let matched = 0;
  record.groups.forEach((g, i) => {
    const inputs: GroupInput[] = [];
    for (const hash of g.inputs) {
      const bytes = g.level === 1 ? frameOf(hash) : redone.get(hash);
      if (!bytes) return void mismatches.push({ level: g.level, group: i, detail: `input ${hash} is not held (level ${g.level})` });
      if (hashFrame(bytes) !== hash)
        return void mismatches.push({ level: g.level, group: i, detail: `the bytes held for ${hash} hash to ${hashFrame(bytes)}` });
      try {
        inputs.push({ hash, frame: decodeFrame(bytes, limits) });
      } catch (e) {
        return void mismatches.push({ level: g.level, group: i, detail: `input ${hash} does not decode: ${(e as Error).message}` });
      }
    }
    if (inputs.length < g.inputs.length) return;
    const out = combineGroup(run, record.round, g.level, inputs, hashFrame, version);
    if (out.hash !== g.output || out.samples !== g.samples)
      return void mismatches.push({
        level: g.level,
        group: i,
        detail: `redone output ${out.hash} (${out.samples} samples), recorded ${g.output} (${g.samples})`,
      });
    redone.set(out.hash, out.bytes);
    matched++;
  });
  const last = record.groups.at(-1);
  return { matched, mismatches, combined: mismatches.length === 0 && last ? redone.get(last.output)! : null };
}
