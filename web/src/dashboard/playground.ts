// The ONNX playground's non-DOM parts: a drawing to an MNIST-like input, byte-level text
// sampling for a GPT run, and the lazily loaded onnxruntime-web session (never part of the
// volunteer page's bundle).
import type { InferenceSession } from 'onnxruntime-web/wasm';
import { createRng } from '../../../shared/rng.ts';
import { GPT_DEFAULT } from '../../../shared/model.ts';
import { CoordinatorApi } from '../client/api.ts';

/**
 * Grey levels (W×H, 0–255, ink high) to a 28×28 input in [0, 1] laid out like MNIST: the
 * ink's bounding box scaled to fit 20×20 (aspect kept), centred in the 28×28 frame.
 */
export function toMnistInput(gray: Uint8ClampedArray | Uint8Array, W: number, H: number): Float32Array {
  let [x0, y0, x1, y1] = [W, H, -1, -1];
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) if (gray[y * W + x] > 16) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  const out = new Float32Array(28 * 28);
  if (x1 < 0) return out;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const scale = 20 / side;
  const ox = 4 + (20 - (x1 - x0 + 1) * scale) / 2;
  const oy = 4 + (20 - (y1 - y0 + 1) * scale) / 2;
  // Area sampling: every source pixel adds its ink to the target pixel it lands in.
  const sum = new Float32Array(28 * 28);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const tx = Math.min(27, Math.floor(ox + (x - x0 + 0.5) * scale));
      const ty = Math.min(27, Math.floor(oy + (y - y0 + 0.5) * scale));
      sum[ty * 28 + tx] += gray[y * W + x] / 255;
    }
  }
  const perCell = 1 / (scale * scale);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, sum[i] / perCell);
  return out;
}

export function softmax(logits: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(logits));
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export interface SampleOptions {
  /** Bytes to add after the prompt. */
  length: number;
  /** 0: always the likeliest byte; otherwise softmax(logits / temperature). */
  temperature: number;
  /** Longest window the model takes (its context); the prompt's tail is kept. */
  context: number;
  seed: number;
}

/**
 * Continues `prompt` (UTF-8 bytes are the tokens) one byte at a time: `nextLogits` gets the last
 * ≤ context tokens and answers their logits, (T, 256) row-major; the last row is sampled. Returns
 * the added bytes.
 */
export async function sampleBytes(nextLogits: (tokens: number[]) => Promise<Float32Array>, prompt: Uint8Array, o: SampleOptions): Promise<Uint8Array> {
  if (!(o.temperature >= 0)) throw new RangeError(`temperature: expected ≥ 0, got ${o.temperature}`);
  const tokens = Array.from(prompt.length ? prompt : Uint8Array.of(0x20)); // an empty prompt starts from a space
  const rand = createRng(o.seed);
  const out: number[] = [];
  for (let i = 0; i < o.length; i++) {
    const window = tokens.slice(-o.context);
    const logits = await nextLogits(window);
    const V = logits.length / window.length;
    const last = logits.subarray((window.length - 1) * V);
    let next = 0;
    if (o.temperature === 0) {
      for (let v = 1; v < V; v++) if (last[v] > last[next]) next = v;
    } else {
      const p = softmax(Array.from(last, (z) => z / o.temperature));
      let u = rand();
      next = V - 1;
      for (let v = 0; v < V; v++)
        if ((u -= p[v]) < 0) {
          next = v;
          break;
        }
    }
    tokens.push(next);
    out.push(next);
  }
  return Uint8Array.from(out);
}

/** The logits function of a GPT ONNX session: tokens (1, T) int64 → logits (1, T, vocab). */
export function gptLogits(session: InferenceSession, Tensor: typeof import('onnxruntime-web/wasm').Tensor): (tokens: number[]) => Promise<Float32Array> {
  return async (tokens) =>
    (await session.run({ tokens: new Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]) })).logits.data as Float32Array;
}

export interface LoadedModel {
  session: InferenceSession;
  round: number;
  modelHash: string;
  /** 'gpt' when the graph takes "tokens" (shared/onnx.ts exportGptOnnx), else the MLP. */
  kind: 'mlp' | 'gpt';
  /** MLP: class probabilities of one image. */
  predict(x: Float32Array): Promise<number[]>;
  /** GPT: the prompt continued by `length` sampled bytes, as text. */
  generate(prompt: string, o: Omit<SampleOptions, 'context'>): Promise<string>;
}

/** Fetches /api/model.onnx and opens it in onnxruntime-web (wasm), importing the runtime on first use. */
export async function loadOnnxModel(origin: string): Promise<LoadedModel> {
  const ort = await import('onnxruntime-web/wasm'); // the CPU build: half the download of the default
  ort.env.wasm.numThreads = 1; // no cross-origin isolation here: no threads
  const res = await fetch(`${origin}/api/model.onnx`);
  if (!res.ok) throw new Error(`GET /api/model.onnx: HTTP ${res.status}`);
  const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['wasm'] });
  const kind = session.inputNames.includes('tokens') ? 'gpt' : 'mlp';
  // The longest window the GPT takes: the run's context (its dims merged over GPT_DEFAULT).
  let context = 0;
  if (kind === 'gpt') {
    const { run } = await new CoordinatorApi(origin).run();
    context = run.gpt?.context ?? GPT_DEFAULT.context;
  }
  return {
    session,
    round: Number(res.headers.get('x-round')),
    modelHash: res.headers.get('x-model-hash') ?? '',
    kind,
    async generate(prompt, o) {
      if (kind !== 'gpt') throw new Error('this model is not a GPT');
      const bytes = await sampleBytes(gptLogits(session, ort.Tensor), new TextEncoder().encode(prompt), { ...o, context });
      return new TextDecoder().decode(bytes);
    },
    async predict(x) {
      const out = await session.run({ x: new ort.Tensor('float32', x, [1, x.length]) });
      return softmax(out.logits.data as Float32Array);
    },
  };
}
