// `npm run onnx-parity -- [--json] [--url http://127.0.0.1:8080/] [--batch N] [--tolerance X]`
//
// For each preset: export the current model to ONNX (shared/onnx.ts), run the file with
// onnxruntime-web (its wasm CPU backend, in Node) and run OUR forward pass — the WGSL
// kernels through Dawn — on the same batch, and report the largest absolute difference of the
// outputs. MLP: kernels/mlp-trainer.ts forward on held-out MNIST images. GPT (GPT_DEFAULT):
// kernels/gpt-trainer.ts forwardLogits on (batch, context) byte windows of a generated grammar
// text (e2e/grammar-corpus.ts), fed to ONNX as int64 tokens; logits (batch, context, vocab).
//
// The current model: with --url, the live run of that coordinator (/api/run + snapshot);
// without, the MLP's initial parameters (DEFAULT_RUN's seed) and the GPT both at its initial
// parameters and after a few AdamW steps of our GPU trainer on the grammar text (so the
// check is not only at the init's near-uniform logits).
//
// With --json stdout holds only { "models": <count>, "maxAbsDiff": <largest over all models>, "tolerance" };
// it exits 1 when maxAbsDiff exceeds --tolerance (default 1e-4).
import { useSwiftShaderWhenNoDriver } from '../kernels/swiftshader.ts';
import * as ort from 'onnxruntime-web';
import { DEFAULT_RUN, modelOf, type RunSpec } from '../shared/config.ts';
import { gptSpec, GPT_DEFAULT, initParams, mlpSpec, type GptSpec, type MlpSpec } from '../shared/model.ts';
import { exportGptOnnx, exportMlpOnnx } from '../shared/onnx.ts';
import { byteBatch } from '../shared/gpt.ts';
import { createGptTrainer } from '../kernels/gpt-trainer.ts';
import { PipelineCache } from '../kernels/pipeline-cache.ts';
import { grammarCorpus } from './grammar-corpus.ts';
import { gatherBatch } from '../shared/mlp.ts';
import { loadMnist } from '../coordinator/data/index.ts';
import { acquireDevice, type GpuContext } from '../kernels/device.ts';
import { createNodeGpu } from '../kernels/node-gpu.ts';
import { createMlpTrainer } from '../kernels/mlp-trainer.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { cliOutput, numberOption, parseCli, runCli, UsageError, type CliOption, type CliSpec } from '../shared/cli.ts';

interface ParityModel {
  name: string;
  onnx: Uint8Array;
  /** Inputs of the ONNX graph for the batch. */
  feeds: Record<string, ort.Tensor>;
  output: string;
  /** Our WGSL forward pass on the same batch, flattened like the ONNX output. */
  ours(gpu: GpuContext): Promise<Float32Array>;
}

interface Args {
  json: boolean;
  url?: string;
  batch: number;
  preset: 'mlp' | 'all';
}

export const ONNX_PARITY_CLI = {
  command: 'npm run onnx-parity --',
  summary: `Exports each preset's current model to ONNX, runs it with onnxruntime-web and our WGSL forward pass
(Dawn) on the same batch, and reports the largest absolute difference. Exits 1 when it exceeds --tolerance.`,
  options: {
    json: { type: 'boolean', help: 'stdout holds only { models, maxAbsDiff, tolerance } as one JSON object' },
    url: { type: 'string', arg: 'URL', help: "a running coordinator's live model (http(s)://host:port/) instead of the presets' initial ones" },
    batch: { type: 'string', arg: 'N', default: '64', help: 'batch size, 1 to 4096 (GPT: at most 8)' },
    tolerance: { type: 'string', arg: 'X', default: '1e-4', help: 'the largest |ONNX − WGSL| that passes' },
    preset: { type: 'string', arg: 'mlp|all', default: 'all', help: 'without --url: the MLP only, or every preset' },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

function argsFrom(argv: string[]): Args & { tolerance: number } {
  const values = parseCli(ONNX_PARITY_CLI, argv);
  if (values.preset !== 'mlp' && values.preset !== 'all') throw new UsageError(`--preset: expected mlp or all, got ${JSON.stringify(values.preset)}`);
  if (values.url !== undefined && !/^https?:\/\//.test(values.url))
    throw new UsageError(`--url: expected http(s)://host:port/, got ${JSON.stringify(values.url)}`);
  return {
    json: !!values.json,
    url: values.url,
    batch: numberOption(values, 'batch', { min: 1, max: 4096, integer: true })!,
    tolerance: numberOption(values, 'tolerance', { min: 0 })!,
    preset: values.preset,
  };
}

/** The live model of a coordinator: run spec and θ from its snapshot. */
async function liveModel(url: string): Promise<{ run: RunSpec; params: Float32Array; round: number }> {
  const api = new CoordinatorApi(url);
  const { run } = await api.run();
  const snap = await api.snapshot(run.id, run.paramCount);
  return { run, params: snap.params, round: snap.round };
}

function mlpParity(name: string, spec: MlpSpec, params: Float32Array, x: Float32Array, B: number): ParityModel {
  return {
    name,
    onnx: exportMlpOnnx(spec, params),
    feeds: { x: new ort.Tensor('float32', x, [B, spec.sizes[0]]) },
    output: 'logits',
    async ours({ device }) {
      const trainer = createMlpTrainer(device, spec, { batchSize: B });
      try {
        return await trainer.forward(params, x, B);
      } finally {
        trainer.destroy();
      }
    },
  };
}

/** Sequences in the GPT batch: --batch, at most 8 (each is a whole context of 64 tokens). */
const gptBatch = (args: Args) => Math.min(args.batch, 8);

/** One pipeline cache for every GPT trainer of the run (the same kernels compile once). */
const gptCaches = new WeakMap<GPUDevice, PipelineCache>();
const gptCache = (device: GPUDevice) => gptCaches.get(device) ?? gptCaches.set(device, new PipelineCache(device)).get(device)!;

/** GPT logits on `tokens` ((B, context) byte windows): ONNX gets them as int64. */
function gptParity(name: string, spec: GptSpec, params: Float32Array, tokens: Uint32Array, B: number): ParityModel {
  const T = spec.dims.context;
  return {
    name,
    onnx: exportGptOnnx(spec, params),
    feeds: { tokens: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [B, T]) },
    output: 'logits',
    async ours({ device }) {
      const trainer = createGptTrainer(device, spec, { batchSize: B, seqLen: T, cache: gptCache(device) });
      try {
        return await trainer.forwardLogits(params, tokens);
      } finally {
        trainer.destroy();
      }
    },
  };
}

/** `steps` AdamW steps of our GPU trainer from `params` on byte windows of `text`. */
async function trainGpt({ device }: GpuContext, spec: GptSpec, params: Float32Array, text: Uint8Array, steps: number): Promise<Float32Array> {
  const [B, T] = [4, spec.dims.context];
  const starts = Array.from({ length: steps * B }, (_, i) => (i * 997) % (text.length - T - 1));
  const { tokens, targets } = byteBatch(text, starts, T);
  const trainer = createGptTrainer(device, spec, { batchSize: B, seqLen: T, cache: gptCache(device) });
  try {
    const r = await trainer.train({ params, tokens, targets, steps, adamw: { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 } });
    return r.params;
  } finally {
    trainer.destroy();
  }
}

/** The GPT batch: `B` windows of `context` bytes from the end of a generated grammar text. */
function gptTokens(spec: GptSpec, B: number): { text: Uint8Array; tokens: Uint32Array } {
  const T = spec.dims.context;
  const text = grammarCorpus(20_000, 11);
  const held = text.length - B * (T + 1) - 1;
  return {
    text: text.subarray(0, held),
    tokens: byteBatch(
      text,
      Array.from({ length: B }, (_, b) => held + b * (T + 1)),
      T,
    ).tokens,
  };
}

async function parityModels(args: Args, gpu: GpuContext): Promise<ParityModel[]> {
  const { test } = loadMnist();
  const indices = Array.from({ length: args.batch }, (_, i) => i);
  const { x } = gatherBatch(test, indices);
  const models: ParityModel[] = [];
  if (args.url) {
    const live = await liveModel(args.url);
    const spec = modelOf(live.run);
    const name = `${live.run.name} (live, round ${live.round})`;
    if (spec.preset === 'mlp') models.push(mlpParity(name, spec, live.params, x, args.batch));
    else models.push(gptParity(name, spec, live.params, gptTokens(spec, gptBatch(args)).tokens, gptBatch(args)));
  } else {
    const spec = mlpSpec(DEFAULT_RUN.sizes);
    models.push(mlpParity(`${DEFAULT_RUN.name} (initial, seed ${DEFAULT_RUN.seed})`, spec, initParams(spec, DEFAULT_RUN.seed), x, args.batch));
    if (args.preset === 'mlp') return models;
    const gpt = gptSpec(GPT_DEFAULT);
    const init = initParams(gpt, DEFAULT_RUN.seed);
    const { text, tokens } = gptTokens(gpt, gptBatch(args));
    const steps = 5;
    models.push(gptParity(`GPT ${GPT_DEFAULT.layers}×${GPT_DEFAULT.width} (initial, seed ${DEFAULT_RUN.seed})`, gpt, init, tokens, gptBatch(args)));
    models.push(
      gptParity(
        `GPT ${GPT_DEFAULT.layers}×${GPT_DEFAULT.width} (after ${steps} AdamW steps on grammar text)`,
        gpt,
        await trainGpt(gpu, gpt, init, text, steps),
        tokens,
        gptBatch(args),
      ),
    );
  }
  return models;
}

async function main(): Promise<string[]> {
  const args = argsFrom(process.argv.slice(2));
  const out = cliOutput(args.json);
  useSwiftShaderWhenNoDriver();
  ort.env.wasm.numThreads = 1;
  const gpu = await acquireDevice(createNodeGpu());
  let worst = 0;
  let models: ParityModel[] = [];
  try {
    models = await parityModels(args, gpu);
    for (const m of models) {
      const session = await ort.InferenceSession.create(m.onnx, { executionProviders: ['wasm'] });
      const onnxOut = (await session.run(m.feeds))[m.output].data as Float32Array;
      await session.release();
      const ours = await m.ours(gpu);
      if (ours.length !== onnxOut.length) throw new Error(`${m.name}: ONNX output has ${onnxOut.length} values, ours ${ours.length}`);
      let diff = 0;
      for (let i = 0; i < ours.length; i++) {
        const d = Math.abs(ours[i] - onnxOut[i]);
        if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : d; // a NaN on either side is a failure, not a zero
      }
      worst = Math.max(worst, diff);
      out.summary(`${m.name}: ${m.onnx.byteLength} bytes of ONNX, ${ours.length} outputs, max |ONNX − WGSL| = ${diff.toExponential(3)}`);
    }
  } finally {
    gpu.device.destroy();
  }
  out.json({ models: models.length, maxAbsDiff: worst, tolerance: args.tolerance });
  return worst <= args.tolerance ? [] : [`max |ONNX − WGSL| ${worst.toExponential(3)} exceeds the tolerance ${args.tolerance}`];
}

runCli(ONNX_PARITY_CLI, main);
