import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIdlegradError } from '../errors.ts';
import { hashParams } from '../model.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts';

const params = Float32Array.from([1, -2, 3.5]);
const momentum = Float32Array.from([0.1, 0.2, 0.3]);

test('a snapshot round-trips: head, padding to 4 bytes, params, momentum', () => {
  const s = { round: 4, modelHash: hashParams(params), params, momentum };
  const bytes = encodeSnapshot(s);
  const head = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal(bytes.byteLength, ((4 + head + 3) & ~3) + 24);
  const back = decodeSnapshot(bytes, 3);
  assert.deepEqual(back, s);
  assert.equal(back.params.byteOffset % 4, 0, 'aligned copies');
  // Every head length, so every padding (the round's digits move the head by one byte each).
  for (const round of [0, 10, 100, 1000]) assert.equal(decodeSnapshot(encodeSnapshot({ ...s, round }), 3).round, round);
  // The bytes may sit at any offset of a larger buffer.
  const inside = new Uint8Array(bytes.byteLength + 3);
  inside.set(bytes, 3);
  assert.deepEqual(decodeSnapshot(inside.subarray(3), 3), s);
});

test('a snapshot that is malformed or sized for another model is refused by name', () => {
  const good = encodeSnapshot({ round: 4, modelHash: hashParams(params), params, momentum });
  const withHead = (head: string) => {
    const json = new TextEncoder().encode(head);
    const start = (4 + json.length + 3) & ~3;
    const b = new Uint8Array(start + 24);
    new DataView(b.buffer).setUint32(0, json.length, true);
    b.set(json, 4);
    return b;
  };
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(0, 0xffffffff, true);
  const cases: [string, Uint8Array, number, string, RegExp][] = [
    ['shorter than its prefix', good.subarray(0, 3), 3, 'BAD_FRAME', /shorter than its length prefix/],
    ['a head longer than the body', huge, 3, 'BAD_FRAME', /implausible/],
    ['sized for 4 parameters', good, 4, 'BAD_FRAME', /a 4-parameter model needs/],
    ['one byte short', good.subarray(0, good.byteLength - 1), 3, 'BAD_FRAME', /a 3-parameter model needs/],
    ['a head that is not JSON', withHead('{round: 4'), 3, 'BAD_MESSAGE', /snapshot head is not valid JSON/],
    [
      'a round that is not a number',
      withHead(JSON.stringify({ round: 'x', modelHash: hashParams(params) })),
      3,
      'BAD_MESSAGE',
      /snapshot\.round: expected a uint32/,
    ],
    [
      'a hash that is not 32 bytes',
      withHead(JSON.stringify({ round: 1, modelHash: '0x12' })),
      3,
      'BAD_MESSAGE',
      /snapshot\.modelHash: expected a 32-byte hex string/,
    ],
  ];
  for (const [name, b, n, code, message] of cases)
    assert.throws(
      () => decodeSnapshot(b, n),
      (e) => isIdlegradError(e) && e.code === code && message.test(e.message),
      name,
    );
  assert.throws(() => encodeSnapshot({ round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(2) }), RangeError);
});
