import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_GPT_RUN,
  DEFAULT_RUN,
  HELD_OUT_EVAL_FLOPS,
  heldOutWindowsWithin,
  isGptPreset,
  modelOf,
  PRESET_CHOICES,
  PRESET_DEFAULTS,
  PRESETS,
  runSpecOf,
  validateRunSettings,
  type RunSpec,
} from './config.ts';
import { trainingFlopsPerSample } from './preset.ts';
import { deviceNeeds } from './device-needs.ts';
import { gptSpec, GPT_BASE, GPT_DEFAULT, GPT_SMALL, hashParams, initParams, paramTableHash } from './model.ts';
import { modelHashSchemeOf, runModelHash } from './model-hash.ts';
import { parseRunSpec } from './wire/index.ts';
import { runCombineVersion } from './robust-combine.ts';

// A GPT run spec exactly as the coordinator served and stored it before the presets by size
// (commit 4c70a5f): preset 'gpt', no `needs`.
const OLD_GPT_SPEC =
  '{"name":"gpt","preset":"gpt","sizes":[784,64,10],"seed":1,"inner":{"steps":50,"batchSize":8,"adamw":{"lr":0.003,"beta1":0.9,"beta2":0.99,"eps":1e-8,"weightDecay":0.1,"maxGradNorm":1}},"outer":{"lr":1,"momentum":0},"codec":{"density":0.1,"bits":4,"chunkSize":1024,"indexCoding":"rice"},"globalUpdate":"exact","aggregator":{"kind":"centered-clip","clip":3,"trim":0.2,"tau":1,"iterations":3,"copycatCosine":0.99,"minCosine":0},"cohortSize":8,"timing":{"trainMs":20000,"exchangeMs":8000,"reportMs":5000},"minVolunteers":1,"maxRounds":0,"rewards":{"epochRounds":3,"weiPerSample":"1000000000000000"},"gpt":{"vocab":256,"context":64,"width":64,"layers":2,"heads":4,"hidden":256},"id":7,"paramTableHash":"0xdf1f423e5dcab4249d5eca0d732310e3518140cb77a91c71a92ce58eb096321d","paramCount":136576,"dataset":{"name":"text","text":"abababababababababababababababababababababababababababababababab","trainCount":100,"testCount":10,"features":65,"classes":256}}';
/** keccak of initParams(gpt, seed 1) before the change: the model hash h_0 such a run started from. */
const OLD_GPT_H0 = '0x455e21e2d5effd89e595dee770d2fcd74e387c6429e92a70fbb077a866d5f1f1';

test("an old run spec with preset 'gpt' still loads, and its model and hashes are gpt-micro's as before", async () => {
  const old = parseRunSpec(JSON.parse(OLD_GPT_SPEC), 'run');
  assert.equal(old.preset, 'gpt');
  const model = modelOf(old);
  assert.equal(paramTableHash(model), old.paramTableHash);
  assert.equal(model.paramCount, 136_576);
  assert.equal(hashParams(initParams(model, old.seed)), OLD_GPT_H0);
  // It names no model hash scheme: it keeps the whole-model keccak its ledger's hash chain holds.
  assert.equal(modelHashSchemeOf(old), 'keccak256');
  assert.equal(await runModelHash(old, initParams(model, old.seed)), OLD_GPT_H0);
  const micro = modelOf({ ...old, preset: 'gpt-micro' });
  assert.equal(paramTableHash(micro), old.paramTableHash, "gpt-micro is the same model as 'gpt'");
  // A run created today under the old name has the same table (and now carries its needs and the chunked model hash).
  const again = runSpecOf(7, PRESET_DEFAULTS.gpt, old.dataset);
  assert.equal(again.paramTableHash, old.paramTableHash);
  // Everything but the codec, whose GPT default changed from 10 % to 30 % (issue 15, DEFAULT_GPT_RUN),
  // the model hash scheme, chunked sha256 for every run created since protocol 4, and the combine
  // version (the old spec names none: its rounds combine as version 1; a new run's, version 2).
  const { modelHashScheme, combineVersion, ...asBefore } = again;
  assert.equal(modelHashScheme, 'sha256-chunks');
  assert.equal(combineVersion, 2);
  assert.equal(runCombineVersion(old), 1);
  assert.deepEqual({ ...asBefore, needs: undefined, codec: undefined }, { ...JSON.parse(OLD_GPT_SPEC), needs: undefined, codec: undefined });
  assert.deepEqual(again.codec, DEFAULT_GPT_RUN.codec);
});

test('the presets by size: parameter counts and table hashes pinned, each trainable by the same GPT layout', () => {
  const pinned = {
    mlp: [50_890, null],
    'gpt-micro': [136_576, '0xdf1f423e5dcab4249d5eca0d732310e3518140cb77a91c71a92ce58eb096321d'],
    'gpt-small': [10_935_552, '0x0ac281e2deac79db8c63c21ed649a3b7234bcf5ad1195b3deb3042aeab3ec399'],
    'gpt-base': [25_601_024, '0x812104e6f1ea927afc75a4048575ce9df94cdac333b22771f50c227c9d688788'],
  } as const;
  assert.deepEqual(PRESET_CHOICES, ['mlp', 'gpt-micro', 'gpt-small', 'gpt-base']);
  assert.deepEqual(PRESETS, [...PRESET_CHOICES, 'gpt']);
  for (const p of PRESET_CHOICES) {
    const run = validateRunSettings(PRESET_DEFAULTS[p]);
    assert.equal(run.preset, p);
    const model = modelOf(run);
    assert.equal(model.paramCount, pinned[p][0], p);
    if (pinned[p][1]) assert.equal(paramTableHash(model), pinned[p][1], p);
    assert.equal(isGptPreset(p), p !== 'mlp');
  }
  assert.deepEqual(modelOf(PRESET_DEFAULTS['gpt-small']), gptSpec(GPT_SMALL));
  assert.deepEqual(modelOf(PRESET_DEFAULTS['gpt-base']), gptSpec(GPT_BASE));
  // A run's gpt settings are merged over its own preset's dims, not gpt-micro's.
  assert.deepEqual(modelOf({ ...PRESET_DEFAULTS['gpt-small'], gpt: { layers: 2 } }), gptSpec({ ...GPT_SMALL, layers: 2 }));
  assert.deepEqual(modelOf({ ...PRESET_DEFAULTS.gpt, gpt: undefined }), gptSpec(GPT_DEFAULT));
  assert.throws(
    () => validateRunSettings({ ...PRESET_DEFAULTS.mlp, preset: 'gpt-huge' as 'mlp' }),
    /^Error: run\.preset: expected one of mlp, gpt-micro, gpt-small, gpt-base, gpt, got "gpt-huge"/,
  );
});

test('a run spec carries its device needs, computed from the model and batch; a spec whose needs are not its own is refused', () => {
  const dataset: RunSpec['dataset'] = { name: 'text', text: 'cd'.repeat(32), trainCount: 500, testCount: 20, features: 257, classes: 256 };
  const spec = runSpecOf(3, PRESET_DEFAULTS['gpt-small'], dataset);
  assert.deepEqual(spec.needs, deviceNeeds(gptSpec(GPT_SMALL), { steps: 50, batchSize: 4 }));
  const wire = JSON.parse(JSON.stringify(spec));
  assert.deepEqual(parseRunSpec(wire, 'run'), wire);
  assert.throws(() => parseRunSpec({ ...wire, needs: { ...wire.needs, totalBytes: 1 } }, 'run'), /run\.needs/);
  assert.throws(() => parseRunSpec({ ...wire, inner: { ...wire.inner, batchSize: 8 } }, 'run'), /run\.needs/, 'a batch the needs were not computed for');
});

test('gpt-small and gpt-base evaluate a seeded held-out sample sized by the forward FLOPs; gpt-micro and the MLP their whole split', () => {
  assert.deepEqual(PRESET_DEFAULTS['gpt-small'].heldOut, { windows: 16 });
  assert.deepEqual(PRESET_DEFAULTS['gpt-base'].heldOut, { windows: 7 });
  assert.equal(heldOutWindowsWithin(gptSpec(GPT_SMALL)), Math.floor(HELD_OUT_EVAL_FLOPS / (trainingFlopsPerSample(gptSpec(GPT_SMALL)) / 3)));
  for (const p of ['mlp', 'gpt', 'gpt-micro'] as const) assert.equal(PRESET_DEFAULTS[p].heldOut, undefined, p);
  assert.throws(
    () => validateRunSettings({ ...PRESET_DEFAULTS['gpt-small'], heldOut: { windows: 0 } }),
    /^Error: run\.heldOut\.windows: expected an integer in \[1, 100000\], got 0/,
  );
  assert.throws(() => validateRunSettings({ ...PRESET_DEFAULTS.mlp, heldOut: { windows: 4 } }), /^Error: run\.heldOut\.windows: expected no held-out sample/);
  const dataset: RunSpec['dataset'] = { name: 'text', text: 'cd'.repeat(32), trainCount: 500, testCount: 5, features: 257, classes: 256 };
  const wire = JSON.parse(JSON.stringify(runSpecOf(3, PRESET_DEFAULTS['gpt-small'], dataset)));
  assert.deepEqual(parseRunSpec(wire, 'run').heldOut, { windows: 16 }, 'recorded in the run spec every party reads');
});

test('an inner lr warm-up travels in the run spec, validated with its keypath; absent, the spec is as before', () => {
  const dataset: RunSpec['dataset'] = { name: 'text', text: 'cd'.repeat(32), trainCount: 500, testCount: 5, features: 65, classes: 256 };
  const warm = { ...DEFAULT_GPT_RUN, inner: { ...DEFAULT_GPT_RUN.inner, adamw: { ...DEFAULT_GPT_RUN.inner.adamw, warmupSteps: 10 } } };
  const wire = JSON.parse(JSON.stringify(runSpecOf(3, warm, dataset)));
  assert.equal(parseRunSpec(wire, 'run').inner.adamw.warmupSteps, 10);
  for (const bad of [2.5, -1, 10_001])
    assert.throws(
      () => validateRunSettings({ ...warm, inner: { ...warm.inner, adamw: { ...warm.inner.adamw, warmupSteps: bad } } }),
      new RegExp(`^Error: run\\.inner\\.adamw\\.warmupSteps: expected an integer in \\[0, 10000\\], got ${bad}`),
    );
  assert.throws(
    () => parseRunSpec({ ...wire, inner: { ...wire.inner, adamw: { ...wire.inner.adamw, warmupSteps: 'ten' } } }, 'run'),
    /run\.inner\.adamw\.warmupSteps/,
  );
});

test('the inner AdamW prime is simulator-only: a run that asks for it is refused with its keypath, on the wire too', () => {
  const primed = { ...DEFAULT_RUN, inner: { ...DEFAULT_RUN.inner, adamw: { ...DEFAULT_RUN.inner.adamw, primeSteps: 10 } } };
  assert.throws(
    () => validateRunSettings(primed),
    /^Error: run\.inner\.adamw\.primeSteps: expected 0 or absent \(the prime is simulator-only: pages do not run it\), got 10/,
  );
  assert.equal(validateRunSettings({ ...primed, inner: { ...primed.inner, adamw: { ...primed.inner.adamw, primeSteps: 0 } } }).inner.adamw.primeSteps, 0);
  const dataset: RunSpec['dataset'] = { name: 'mnist', trainCount: 8500, testCount: 1501, features: 784, classes: 10 };
  const wire = JSON.parse(JSON.stringify(runSpecOf(3, DEFAULT_RUN, dataset)));
  assert.throws(
    () => parseRunSpec({ ...wire, inner: { ...wire.inner, adamw: { ...wire.inner.adamw, primeSteps: 10 } } }, 'run'),
    /run\.inner\.adamw\.primeSteps/,
  );
});
