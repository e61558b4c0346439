// A run's training set as served to volunteers (GET /api/data/train): MNIST digits or byte
// windows of the lead's text (shared/mlp.ts Dataset). One encoder (the coordinator) and one
// decoder (the page, the virtual volunteer):
//
//   u32 count | u32 features | labels u8[count] | images u8[count · features]   (little-endian)
//
// The decoder takes the expected shape from the run spec (`dataset`) and checks the header,
// the length and every label before it hands out views of the bytes.
import type { Dataset } from '../mlp.ts';
import { IdlegradError } from '../errors.ts';

const HEAD_BYTES = 8;

/** What the run spec says the served set is (RunSpec['dataset'] has these fields). */
export interface DatasetShape {
  count: number;
  features: number;
  classes: number;
}

export function encodeDataset(d: Dataset): Uint8Array {
  if (d.labels.length !== d.count || d.images.length !== d.count * d.features) {
    throw new RangeError(`encodeDataset: ${d.labels.length} labels and ${d.images.length} image bytes for ${d.count} samples of ${d.features}`);
  }
  const out = new Uint8Array(HEAD_BYTES + d.count + d.images.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, d.count, true);
  dv.setUint32(4, d.features, true);
  out.set(d.labels, HEAD_BYTES);
  out.set(d.images, HEAD_BYTES + d.count);
  return out;
}

const bad = (msg: string, details?: string): never => {
  throw new IdlegradError('BAD_FRAME', msg, { details });
};

/** The set, as views into `bytes`. Throws IdlegradError('BAD_FRAME') naming the fault. */
export function decodeDataset(bytes: Uint8Array, shape: DatasetShape): Dataset {
  if (bytes.byteLength < HEAD_BYTES) bad(`dataset is ${bytes.byteLength} bytes, shorter than its ${HEAD_BYTES}-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = dv.getUint32(0, true);
  const features = dv.getUint32(4, true);
  if (count !== shape.count || features !== shape.features) {
    bad('dataset does not match the run', `served ${count}×${features}, run expects ${shape.count}×${shape.features}`);
  }
  const expected = HEAD_BYTES + count + count * features;
  if (bytes.byteLength !== expected) bad(`dataset is ${bytes.byteLength} bytes, its header implies ${expected}`);
  const labels = bytes.subarray(HEAD_BYTES, HEAD_BYTES + count);
  for (let i = 0; i < count; i++) if (labels[i] >= shape.classes) bad(`dataset label ${labels[i]} at ${i} is not a class below ${shape.classes}`);
  return { count, features, classes: shape.classes, labels, images: bytes.subarray(HEAD_BYTES + count, expected) };
}

/** The shape of a run's served training set. */
export const trainShape = (d: { trainCount: number; features: number; classes: number }): DatasetShape => ({
  count: d.trainCount,
  features: d.features,
  classes: d.classes,
});
