// The ONNX playground's non-DOM parts: a drawing to an MNIST-like input, and the lazily
// loaded onnxruntime-web session (never part of the volunteer page's bundle).
import type { InferenceSession } from 'onnxruntime-web/wasm';

/**
 * Grey levels (W×H, 0–255, ink high) to a 28×28 input in [0, 1] laid out like MNIST: the
 * ink's bounding box scaled to fit 20×20 (aspect kept), centred in the 28×28 frame.
 */
export function toMnistInput(gray: Uint8ClampedArray | Uint8Array, W: number, H: number): Float32Array {
  let [x0, y0, x1, y1] = [W, H, -1, -1];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (gray[y * W + x] > 16) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
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

export interface LoadedModel {
  session: InferenceSession;
  round: number;
  modelHash: string;
  predict(x: Float32Array): Promise<number[]>;
}

/** Fetches /api/model.onnx and opens it in onnxruntime-web (wasm), importing the runtime on first use. */
export async function loadOnnxModel(origin: string): Promise<LoadedModel> {
  const ort = await import('onnxruntime-web/wasm'); // the CPU build: half the download of the default
  ort.env.wasm.numThreads = 1; // no cross-origin isolation here: no threads
  const res = await fetch(`${origin}/api/model.onnx`);
  if (!res.ok) throw new Error(`GET /api/model.onnx: HTTP ${res.status}`);
  const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['wasm'] });
  return {
    session,
    round: Number(res.headers.get('x-round')),
    modelHash: res.headers.get('x-model-hash') ?? '',
    async predict(x) {
      const out = await session.run({ x: new ort.Tensor('float32', x, [1, x.length]) });
      return softmax(out.logits.data as Float32Array);
    },
  };
}
