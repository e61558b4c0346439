// A text file as the data of a GPT run: byte tokens, the last `heldOutFraction` of the bytes
// held out. Both splits are shared/preset.ts textWindows datasets (windows of T + 1 bytes):
// training windows overlap by half, held-out windows do not and are capped in number (32 by default), since
// the coordinator evaluates all of them on the CPU after every committed round.
import { readFileSync } from 'node:fs';
import type { Dataset } from '../../shared/mlp.ts';
import { textWindows } from '../../shared/preset.ts';

export interface TextSplits {
  train: Dataset;
  test: Dataset;
}

export interface TextCorpusOptions {
  /** Window length T (the GPT's context). */
  T: number;
  /** Default 0.1. */
  heldOutFraction?: number;
  /** Most held-out windows kept (default 32). */
  maxHeldOutWindows?: number;
}

export function splitText(text: Uint8Array, { T, heldOutFraction = 0.1, maxHeldOutWindows = 32 }: TextCorpusOptions, source = 'text'): TextSplits {
  const held = Math.floor(text.length * heldOutFraction);
  const need = 2 * (T + 1);
  if (held < T + 1 || text.length - held < need) {
    throw new Error(
      `${source}: ${text.length} bytes are too few for windows of ${T + 1} bytes (need ≥ ${Math.ceil((T + 1) / heldOutFraction)} for a held-out window and ≥ ${need} to train on)`,
    );
  }
  const train = textWindows(text.subarray(0, text.length - held), T, Math.max(1, T >> 1));
  const all = textWindows(text.subarray(text.length - held), T, T);
  const count = Math.min(all.count, maxHeldOutWindows);
  const test = { ...all, count, images: all.images.slice(0, count * all.features), labels: all.labels.slice(0, count) };
  return { train, test };
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
