import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIdlegradError } from '../errors.ts';
import { decodeDataset, encodeDataset, trainShape } from './dataset.ts';
import type { Dataset } from '../mlp.ts';

const dataset = (count: number, features: number, classes = 10): Dataset => ({
  count,
  features,
  classes,
  labels: Uint8Array.from({ length: count }, (_, i) => i % classes),
  images: Uint8Array.from({ length: count * features }, (_, i) => (i * 37) & 0xff),
});

test('a dataset round-trips through the wire format: u32 count, u32 features, labels, images', () => {
  const d = dataset(5, 7);
  const bytes = encodeDataset(d);
  assert.equal(bytes.byteLength, 8 + 5 + 35);
  const dv = new DataView(bytes.buffer);
  assert.deepEqual([dv.getUint32(0, true), dv.getUint32(4, true)], [5, 7]);
  const back = decodeDataset(bytes, { count: 5, features: 7, classes: 10 });
  assert.deepEqual(back, d);
  // Views of the bytes, also when they sit inside a larger buffer.
  const inside = new Uint8Array(bytes.byteLength + 16);
  inside.set(bytes, 16);
  assert.deepEqual(decodeDataset(inside.subarray(16), { count: 5, features: 7, classes: 10 }), d);
  assert.deepEqual(trainShape({ trainCount: 5, features: 7, classes: 10 }), { count: 5, features: 7, classes: 10 });
});

test("a dataset that is malformed or not the run's is refused by name before anything is read from it", () => {
  const bytes = encodeDataset(dataset(3, 4));
  const shape = { count: 3, features: 4, classes: 10 };
  const cases: [string, Uint8Array, typeof shape, RegExp][] = [
    ['shorter than its header', bytes.subarray(0, 7), shape, /shorter than its 8-byte header/],
    ['another count', bytes, { ...shape, count: 4 }, /does not match the run/],
    ['another width', bytes, { ...shape, features: 5 }, /does not match the run/],
    ['one byte short', bytes.subarray(0, bytes.byteLength - 1), shape, /its header implies 23/],
    ['one byte long', Uint8Array.from([...bytes, 0]), shape, /its header implies 23/],
    ['a label past the classes', encodeDataset({ ...dataset(3, 4), labels: Uint8Array.of(0, 12, 1) }), shape, /label 12 at 1 is not a class below 10/],
  ];
  for (const [name, b, s, message] of cases)
    assert.throws(
      () => decodeDataset(b, s),
      (e) => isIdlegradError(e, 'BAD_FRAME') && message.test(e.message),
      name,
    );
  // A header that claims 2^32 − 1 samples is refused by its length, not allocated.
  const huge = bytes.slice();
  new DataView(huge.buffer).setUint32(0, 0xffffffff, true);
  assert.throws(
    () => decodeDataset(huge, { ...shape, count: 0xffffffff }),
    (e) => isIdlegradError(e, 'BAD_FRAME'),
  );
  assert.throws(() => encodeDataset({ ...dataset(3, 4), labels: new Uint8Array(2) }), RangeError);
});
