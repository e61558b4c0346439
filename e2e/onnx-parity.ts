// `npm run onnx-parity -- [--json] [--url http://127.0.0.1:8080/] [--batch N]`
//
// For each preset: export the current model to ONNX (shared/onnx.ts), run the file with
// onnxruntime-web (its wasm CPU backend, in Node) and run OUR forward pass — the WGSL
// kernels through Dawn (kernels/mlp-trainer.ts) — on the same batch of held-out MNIST
// images, and report the largest absolute difference of the outputs.
//
// The current model: with --url, the live run of that coordinator (/api/run + snapshot);
// without, each preset's initial parameters (DEFAULT_RUN's seed). Adding a model (the GPT
// preset) is one more entry in `parityModels`.
//
// With --json the last line is { "models": <count>, "maxAbsDiff": <largest over all models> }.
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { DEFAULT_RUN, modelOf, type RunSpec } from '../shared/config.ts';
import { initParams, mlpSpec, type MlpSpec } from '../shared/model.ts';
import { exportMlpOnnx } from '../shared/onnx.ts';
import { gatherBatch } from '../shared/mlp.ts';
import { loadMnist } from '../coordinator/data/mnist.ts';
import { acquireDevice, type GpuContext } from '../kernels/device.ts';
import { createNodeGpu } from '../kernels/node-gpu.ts';
import { createMlpTrainer } from '../kernels/mlp-trainer.ts';
import { parseSnapshot } from '../web/src/client/api.ts';

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
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, batch: 64 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') args.json = true;
    else if (a === '--url') args.url = argv[++i];
    else if (a === '--batch') args.batch = Number(argv[++i]);
    else throw new Error(`onnx-parity: unknown argument ${a} (expected --json, --url URL, --batch N)`);
  }
  if (!Number.isInteger(args.batch) || args.batch < 1 || args.batch > 4096) throw new Error(`--batch: expected an integer in [1, 4096], got ${args.batch}`);
  if (args.url !== undefined && !/^https?:\/\//.test(args.url)) throw new Error(`--url: expected http(s)://host:port/, got ${JSON.stringify(args.url)}`);
  return args;
}

/** The live model of a coordinator: run spec and θ from its snapshot. */
async function liveModel(url: string): Promise<{ run: RunSpec; params: Float32Array; round: number }> {
  const base = url.endsWith('/') ? url : `${url}/`;
  const info = (await (await fetch(`${base}api/run`)).json()) as { run: RunSpec };
  const res = await fetch(`${base}api/runs/${info.run.id}/snapshot`);
  if (!res.ok) throw new Error(`snapshot of run ${info.run.id}: HTTP ${res.status}`);
  const snap = parseSnapshot(await res.arrayBuffer(), info.run.paramCount);
  return { run: info.run, params: snap.params, round: snap.round };
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

async function parityModels(args: Args): Promise<ParityModel[]> {
  const { test } = loadMnist();
  const indices = Array.from({ length: args.batch }, (_, i) => i);
  const { x } = gatherBatch(test, indices);
  const models: ParityModel[] = [];
  if (args.url) {
    const live = await liveModel(args.url);
    const spec = modelOf(live.run);
    if (spec.preset !== 'mlp') throw new Error(`onnx-parity --url: the live run is a ${spec.preset} run; only the MLP has a live parity check`);
    models.push(mlpParity(`${live.run.name} (live, round ${live.round})`, spec, live.params, x, args.batch));
  } else {
    const spec = mlpSpec(DEFAULT_RUN.sizes);
    models.push(mlpParity(`${DEFAULT_RUN.name} (initial, seed ${DEFAULT_RUN.seed})`, spec, initParams(spec, DEFAULT_RUN.seed), x, args.batch));
  }
  // GPT preset, once merged: exportGptOnnx(gptSpec(dims), params) fed int64 tokens, against
  // the GPT trainer's forward logits — one more `models.push`.
  return models;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!process.env.VK_ICD_FILENAMES && existsSync(swiftshader)) process.env.VK_ICD_FILENAMES = swiftshader;
  ort.env.wasm.numThreads = 1;
  const gpu = await acquireDevice(createNodeGpu());
  let worst = 0;
  const models = await parityModels(args);
  try {
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
      console.log(`${m.name}: ${m.onnx.byteLength} bytes of ONNX, ${ours.length} outputs, max |ONNX − WGSL| = ${diff.toExponential(3)}`);
    }
  } finally {
    gpu.device.destroy();
  }
  if (args.json) console.log(JSON.stringify({ models: models.length, maxAbsDiff: worst }));
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`onnx-parity failed: ${e.message}`);
    process.exit(1);
  },
);
