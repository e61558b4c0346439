// A text file as the data of a GPT run: byte tokens, the last `heldOutFraction` of the bytes
// held out. Both splits are shared/preset.ts textWindows datasets (windows of T + 1 bytes):
// training windows overlap by half, held-out windows do not and are capped in number (32 by default), since
// the coordinator evaluates all of them on the CPU after every committed round. A run that names a
// held-out sample (RunSettings.heldOut: gpt-small, gpt-base) evaluates that many windows instead,
// drawn with the run's seed from the whole held-out split.
import { readFileSync } from 'node:fs';
import type { Dataset } from '../../shared/mlp.ts';
import { textWindows } from '../../shared/preset.ts';
import { createRng, shuffle } from '../../shared/rng.ts';

export interface TextSplits {
  train: Dataset;
  test: Dataset;
}

export interface TextCorpusOptions {
  /** Window length T (the GPT's context). */
  T: number;
  /** Default 0.1. */
  heldOutFraction?: number;
  /** Most held-out windows kept (default 32), the first ones of the split; ignored with `sample`. */
  maxHeldOutWindows?: number;
  /** `windows` held-out windows drawn with `seed` from the whole split, in text order (all of them if it has fewer). */
  sample?: { windows: number; seed: number };
}

export function splitText(text: Uint8Array, { T, heldOutFraction = 0.1, maxHeldOutWindows = 32, sample }: TextCorpusOptions, source = 'text'): TextSplits {
  const held = Math.floor(text.length * heldOutFraction);
  const need = 2 * (T + 1);
  if (held < T + 1 || text.length - held < need) {
    throw new Error(
      `${source}: ${text.length} bytes are too few for windows of ${T + 1} bytes (need ≥ ${Math.ceil((T + 1) / heldOutFraction)} for a held-out window and ≥ ${need} to train on)`,
    );
  }
  const train = textWindows(text.subarray(0, text.length - held), T, Math.max(1, T >> 1));
  const all = textWindows(text.subarray(text.length - held), T, T);
  return { train, test: sample ? sampleWindows(all, sample.windows, sample.seed) : firstWindows(all, maxHeldOutWindows) };
}

const pick = (d: Dataset, indices: number[]): Dataset => {
  const W = d.features;
  const images = new Uint8Array(indices.length * W);
  indices.forEach((i, k) => images.set(d.images.subarray(i * W, i * W + W), k * W));
  return { ...d, count: indices.length, images, labels: new Uint8Array(indices.length) };
};

const firstWindows = (d: Dataset, n: number): Dataset => pick(d, [...Array(Math.min(n, d.count)).keys()]);

/** `n` windows of `d` chosen by a seeded shuffle, kept in text order. */
function sampleWindows(d: Dataset, n: number, seed: number): Dataset {
  const order = [...Array(d.count).keys()];
  shuffle(order, createRng(seed));
  return pick(
    d,
    order.slice(0, Math.min(n, d.count)).sort((a, b) => a - b),
  );
}

/** The bytes of `path` (IDLEGRAD_TEXT); the error names the file. */
export function readTextFile(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`IDLEGRAD_TEXT: cannot read ${path} (${(e as Error).message})`);
  }
}

/** Reads `path` (IDLEGRAD_TEXT) and splits it; the error names the file. */
export function loadTextCorpus(path: string, opts: TextCorpusOptions): TextSplits {
  return splitText(readTextFile(path), opts, `IDLEGRAD_TEXT ${path}`);
}
