import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base64ToBytes, bytesToBase64, parseClientMessage, parseServerMessage, PROTOCOL_VERSION } from './messages.ts';

const hello = {
  type: 'hello',
  protocol: 1,
  address: '0x' + '11'.repeat(20),
  peerId: 'p1',
  signature: '0x' + '22'.repeat(65),
  adapter: null,
  gflops: null,
};

test('hello carries the partner and the device kind; older clients default them', () => {
  const m = parseClientMessage({ ...hello, partner: 'news.example', device: 'cpu' });
  assert.ok(m.type === 'hello');
  assert.equal(m.partner, 'news.example');
  assert.equal(m.device, 'cpu');
  const old = parseClientMessage(hello);
  assert.ok(old.type === 'hello');
  assert.equal(old.partner, null);
  assert.equal(old.device, null, 'not said');
});

test('a report carries its device kind and its signed partner (even when replayed later from the outbox); a protocol-1 report is refused naming the version', () => {
  const h = '0x' + '33'.repeat(32);
  const c = {
    run: 1,
    round: 2,
    cohort: 0,
    frameHash: h,
    aggregateHash: h,
    framesRoot: h,
    residualHash: h,
    samples: 1,
    steps: 1,
    lossBeforeMicro: 1,
    lossAfterMicro: 1,
    computeMs: 1,
    nonce: '1',
    expiry: '2',
  };
  const m = parseClientMessage({ type: 'report', contribution: { ...c, partner: 'blog' }, signature: hello.signature, frameHashes: [h], device: 'webgpu' });
  assert.ok(m.type === 'report' && m.device === 'webgpu' && m.contribution.partner === 'blog');
  const none = parseClientMessage({ type: 'report', contribution: { ...c, partner: '' }, signature: hello.signature, frameHashes: [h] });
  assert.ok(none.type === 'report' && none.contribution.partner === '');
  // Protocol 1 signed no partner: such a report (an old page, an old outbox) is refused by version.
  assert.throws(
    () => parseClientMessage({ type: 'report', contribution: c, signature: hello.signature, frameHashes: [h], partner: 'blog' }),
    (e: Error & { code?: string }) =>
      e.code === 'SCHEMA_MISMATCH' && /protocol 1/.test(e.message) && new RegExp(`protocol ${PROTOCOL_VERSION} reports`).test(e.message),
  );
  assert.throws(
    () => parseClientMessage({ type: 'report', contribution: { ...c, partner: '<script>' }, signature: hello.signature, frameHashes: [h] }),
    /report\.contribution\.partner/,
  );
  assert.throws(
    () => parseClientMessage({ type: 'report', contribution: { ...c, partner: '' }, signature: hello.signature, frameHashes: [h], device: 'gpu' }),
    /report\.device/,
  );
});

test('a bad partner id or device kind is refused, naming the field', () => {
  assert.throws(() => parseClientMessage({ ...hello, partner: '<script>' }), /hello\.partner/);
  assert.throws(() => parseClientMessage({ ...hello, partner: 'x'.repeat(65) }), /hello\.partner/);
  assert.throws(() => parseClientMessage({ ...hello, device: 'tpu' }), /hello\.device/);
});

test('relay and announcement messages: frames as base64 round-trip; a bad field is refused by name', () => {
  const bytes = Uint8Array.from({ length: 70_001 }, (_, i) => (i * 31) % 256);
  const frame = bytesToBase64(bytes);
  assert.deepEqual(base64ToBytes(frame), bytes);
  const relay = parseClientMessage({ type: 'relay', round: 3, to: ['0x' + 'AB'.repeat(20)], frame });
  assert.ok(relay.type === 'relay');
  assert.deepEqual(relay.to, ['0x' + 'ab'.repeat(20)], 'addresses are lower-cased');
  assert.throws(() => parseClientMessage({ type: 'relay', round: 3, to: [], frame: 'not base64!' }), /relay\.frame/);
  assert.throws(() => parseClientMessage({ type: 'relay', round: 3, to: ['0x12'], frame }), /relay\.to\[0\]/);
  const h = '0x' + '44'.repeat(32);
  assert.throws(() => parseClientMessage({ type: 'announce', round: 3, aggregateHash: h, frameHashes: [h, 'x'] }), /announce\.frameHashes\[1\]/);
  const fromServer = parseServerMessage({ type: 'announced', round: 3, cohort: 1, from: '0x' + '11'.repeat(20), aggregateHash: h, frameHashes: [h] });
  assert.ok(fromServer.type === 'announced' && fromServer.frameHashes[0] === h);
  assert.throws(() => parseServerMessage({ type: 'relayed-frame', round: 3, cohort: 1, from: '0x' + '11'.repeat(20), frame: 'abc' }), /relayed-frame\.frame/);
});
