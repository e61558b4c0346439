// `nice -n 19 npx tsx shared/wire/evidence.bench.ts [--json]`
//
// A sampled page's evidence encode at gpt-small's size (10,935,552 values a residual), the
// validator asking for 8 opened leaves of each residual (its light check): before, the page
// built both residuals' Merkle trees again at the ask (what round 2 of the fourth gpt-small
// swarm took 33 s for on a page's main thread); now it opens them from the trees it built when
// its report committed to the residuals (shared/wire/evidence.ts ResidualTree). Also the
// commitment itself: two trees, or one when the residual before is the previous round's after.
import { GPT_SMALL, gptSpec } from '../model.ts';
import { createRng } from '../rng.ts';
import { encodeEvidence, ResidualTree, residualCommitment, uploadFor, type EvidenceNeeds } from './evidence.ts';

const n = gptSpec(GPT_SMALL).paramCount;
const rand = createRng(18);
const residual = () => Float32Array.from({ length: n }, () => rand() - 0.5);
const ev = { frame: new Uint8Array(390_000), residualBefore: residual(), residualAfter: residual() };
const leafCount = Math.ceil(n / 64);
const needs: EvidenceNeeds = {
  before: false,
  after: false,
  leaves: [...new Set(Array.from({ length: 8 }, () => Math.floor(rand() * leafCount)))].sort((a, b) => a - b),
};
const time = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const out = fn();
  return [out, performance.now() - t0];
};

const [rebuilt, beforeMs] = time(() => encodeEvidence(uploadFor(ev, needs)));
const [trees, treeMs] = time(() => ({ before: ResidualTree.build(ev.residualBefore), after: ResidualTree.build(ev.residualAfter) }));
const [committed] = time(() => residualCommitment(trees.before.root, trees.after.root));
const [kept, afterMs] = time(() => encodeEvidence(uploadFor(ev, needs, trees)));
if (Buffer.compare(Buffer.from(rebuilt), Buffer.from(kept)) !== 0) throw new Error('the kept trees gave another body');
const out = {
  paramCount: n,
  leaves: needs.leaves.length,
  bodyBytes: kept.byteLength,
  encodeRebuildingMs: Math.round(beforeMs),
  encodeFromKeptTreesMs: Number(afterMs.toFixed(2)),
  commitmentTwoTreesMs: Math.round(treeMs),
  committed,
};
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
else
  console.log(
    `gpt-small evidence (${n} values, ${out.leaves} leaves opened in each residual, ${out.bodyBytes} bytes): encode rebuilding the trees ${out.encodeRebuildingMs} ms, from the kept trees ${out.encodeFromKeptTreesMs} ms; the report's commitment (two trees) ${out.commitmentTwoTreesMs} ms`,
  );
