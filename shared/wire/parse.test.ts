import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdlegradError } from '../errors.ts';
import { parseClientMessage } from './index.ts';
import { showValue } from './parse.ts';

test('a refused value is shown capped in depth and length: a deeply nested or huge message is BAD_MESSAGE naming its keypath', () => {
  const deep = JSON.parse(`${'['.repeat(30_000)}${']'.repeat(30_000)}`);
  assert.throws(
    () => parseClientMessage({ type: 'hello', protocol: deep }),
    (e) => e instanceof IdlegradError && e.code === 'BAD_MESSAGE' && e.shortMessage === 'hello.protocol: expected a uint32, got [[[…]]]',
  );
  const wide = { type: 'report', contribution: Array(5000).fill('x'.repeat(10)) };
  assert.throws(
    () => parseClientMessage(wide),
    (e) =>
      e instanceof IdlegradError &&
      e.code === 'BAD_MESSAGE' &&
      e.shortMessage.length < 200 &&
      /^report\.contribution: expected an object, got \["x{10}",/.test(e.shortMessage),
  );
  assert.equal(showValue('a'.repeat(50)), `${'a'.repeat(40)}…`);
  assert.equal(showValue({ a: 1, b: [1, 2, 3, 4], c: null, d: 'x' }), '{"a":1,"b":[1,2,3,…],"c":null,…}');
  assert.ok(showValue(Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`k${i}`.repeat(20), 'v'.repeat(39)]))).length <= 121);
  assert.equal(showValue(undefined), 'undefined');
});
