import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testGpu } from './test-gpu.ts';
import { autotuneKernels } from './autotune.ts';
import { ATTENTION_CANDIDATES, attentionChoice, attentionUnsupported } from './attention/attention.ts';
import { matmulConfigFor } from './matmul/matmul.ts';
import { ROW_REDUCE_CANDIDATES, rowReduceChoice, rowReduceUnsupported } from './row-reduce/row-reduce.ts';
import type { MatmulTuneStore } from './matmul/autotune.ts';

const { ctx } = await testGpu();
const tiny = { dims: { vocab: 11, context: 9, width: 8, layers: 1, heads: 2, hidden: 12 }, batch: 2 };
// Two of each family (compiling every candidate takes minutes on SwiftShader): a one-lane form
// any device runs, and a 32-lane subgroup form that SwiftShader (subgroups of 4) cannot.
const candidates = {
  rowReduce: [ROW_REDUCE_CANDIDATES.find((c) => c.lanes === 1)!, ROW_REDUCE_CANDIDATES.find((c) => c.lanes === 32)!],
  attention: [ATTENTION_CANDIDATES.find((c) => !c.tiled && c.lanes === 1)!, ATTENTION_CANDIDATES.find((c) => c.lanes === 32)!],
};
const opts = { gpt: tiny, reps: 1, matmulShapes: [{ M: 40, N: 24, K: 36 }], candidates };

test('autotuneKernels times every runnable candidate of each family, names why the others are out, applies and caches the fastest', async () => {
  const map = new Map<string, string>();
  const store: MatmulTuneStore = { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
  const r = await autotuneKernels(ctx, { ...opts, store });
  assert.equal(r.source, 'measured');
  const runnable = {
    rowReduce: candidates.rowReduce.filter((c) => !rowReduceUnsupported(c, ctx.device)),
    attention: candidates.attention.filter((c) => !attentionUnsupported(c, ctx.device)),
  };
  for (const family of ['rowReduce', 'attention'] as const) {
    const timed = r.timings!.filter((t) => t.family === family).map((t) => t.config);
    const out = r.rejected!.filter((x) => x.family === family);
    assert.deepEqual(timed, runnable[family], `${family}: every runnable candidate is checked and timed (rejected: ${JSON.stringify(out)})`);
    assert.equal(timed.length + out.length, candidates[family].length);
    for (const x of out) assert.ok(x.why.length > 0, `${family} ${JSON.stringify(x.config)} rejected without a reason`);
    const fastest = r.timings!.filter((t) => t.family === family).reduce((a, b) => (b.ms < a.ms ? b : a));
    assert.deepEqual(r.choice[family], fastest.config);
  }
  assert.deepEqual(rowReduceChoice.get(ctx.device), r.choice.rowReduce);
  assert.deepEqual(attentionChoice.get(ctx.device), r.choice.attention);
  assert.deepEqual(matmulConfigFor(ctx.device), r.choice.matmul);
  assert.deepEqual(JSON.parse(map.get(r.key)!), { rowReduce: r.choice.rowReduce, attention: r.choice.attention });
  const again = await autotuneKernels(ctx, { ...opts, store });
  assert.equal(again.source, 'memory');
  assert.deepEqual(again.choice, r.choice);
});
