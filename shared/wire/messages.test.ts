import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { parseClientMessage, parseServerMessage, PROTOCOL_VERSION } from './messages.ts';
import { decodeRelay, decodeRelayedFrame, encodeRelay, encodeRelayedFrame } from './relay.ts';
import { isIdlegradError } from '../errors.ts';

const session = {
  certificate: { run: 1, device: '0x' + '11'.repeat(20), sessionKey: '0x' + '44'.repeat(32), expiry: '1999999999' },
  signature: '0x' + '22'.repeat(65),
  proof: '0x' + '55'.repeat(64),
};
const hello = {
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  address: '0x' + '11'.repeat(20),
  peerId: 'p1',
  signature: '0x' + '22'.repeat(65),
  adapter: null,
  gflops: null,
  session,
};

test('protocol 6: a hello without a session key (an older page) is refused naming the version; a report signature is the 64-byte Ed25519 one', () => {
  const { session: _, ...old } = hello;
  for (const protocol of [1, 5])
    assert.throws(
      () => parseClientMessage({ ...old, protocol }),
      (e: unknown) =>
        isIdlegradError(e, 'SCHEMA_MISMATCH') && new RegExp(`protocol \\d is not supported \\(expected ${PROTOCOL_VERSION}`).test((e as Error).message),
    );
  assert.throws(() => parseClientMessage(old), /hello\.session/, 'this protocol without its session grant: the field is named');
  assert.throws(() => parseClientMessage({ ...hello, session: { ...session, proof: '0x' + '55'.repeat(65) } }), /hello\.session\.proof/);
});

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
  const m = parseClientMessage({ type: 'report', contribution: { ...c, partner: 'blog' }, signature: session.proof, frameHashes: [h], device: 'webgpu' });
  assert.ok(m.type === 'report' && m.device === 'webgpu' && m.contribution.partner === 'blog');
  const none = parseClientMessage({ type: 'report', contribution: { ...c, partner: '' }, signature: session.proof, frameHashes: [h] });
  assert.ok(none.type === 'report' && none.contribution.partner === '');
  // Protocol 1 signed no partner: such a report (an old page, an old outbox) is refused by version.
  assert.throws(
    () => parseClientMessage({ type: 'report', contribution: c, signature: session.proof, frameHashes: [h], partner: 'blog' }),
    (e: Error & { code?: string }) =>
      e.code === 'SCHEMA_MISMATCH' && /protocol 1/.test(e.message) && new RegExp(`protocol ${PROTOCOL_VERSION} reports`).test(e.message),
  );
  assert.throws(
    () => parseClientMessage({ type: 'report', contribution: { ...c, partner: '<script>' }, signature: session.proof, frameHashes: [h] }),
    /report\.contribution\.partner/,
  );
  assert.throws(
    () => parseClientMessage({ type: 'report', contribution: { ...c, partner: '' }, signature: session.proof, frameHashes: [h], device: 'gpu' }),
    /report\.device/,
  );
});

test('a bad partner id or device kind is refused, naming the field', () => {
  assert.throws(() => parseClientMessage({ ...hello, partner: '<script>' }), /hello\.partner/);
  assert.throws(() => parseClientMessage({ ...hello, partner: 'x'.repeat(65) }), /hello\.partner/);
  assert.throws(() => parseClientMessage({ ...hello, device: 'tpu' }), /hello\.device/);
});

test('relay and announcement messages: relays are binary (their JSON form is refused by name); a bad field is refused by name', () => {
  const bytes = Uint8Array.from({ length: 70_001 }, (_, i) => (i * 31) % 256);
  const to = ['0x' + 'ab'.repeat(20), '0x' + 'cd'.repeat(20)] as Address[];
  const relay = decodeRelay(encodeRelay({ round: 3, to, frame: bytes }));
  assert.deepEqual(relay, { type: 'relay', round: 3, to, frame: bytes });
  assert.equal(encodeRelay({ round: 3, to, frame: bytes }).byteLength, 7 + 40 + bytes.byteLength, 'the frame as it is: no base64');
  const from = ('0x' + '11'.repeat(20)) as Address;
  assert.deepEqual(decodeRelayedFrame(encodeRelayedFrame({ round: 9, cohort: 2, from, frame: bytes })), {
    type: 'relayed-frame',
    round: 9,
    cohort: 2,
    from,
    frame: bytes,
  });
  const wrong = (b: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => decodeRelay(b),
      (e) => isIdlegradError(e, 'BAD_MESSAGE') && pattern.test(e.message),
    );
  wrong(encodeRelay({ round: 3, to: [], frame: bytes }), /relay\.to: expected 1 to 1024 recipients, got 0/);
  wrong(encodeRelay({ round: 3, to, frame: new Uint8Array(0) }), /relay\.frame/);
  wrong(encodeRelay({ round: 3, to, frame: bytes }).subarray(0, 30), /relay\.to: 2 recipients need 40 bytes/);
  wrong(encodeRelayedFrame({ round: 9, cohort: 2, from, frame: bytes }), /must be a relay/);
  assert.throws(() => decodeRelayedFrame(new Uint8Array(29).fill(2)), /relayed-frame\.frame/);
  assert.throws(() => parseClientMessage({ type: 'relay', round: 3, to, frame: 'AAAA' }), /relay: expected no JSON/);
  assert.throws(() => parseServerMessage({ type: 'relayed-frame', round: 3, cohort: 1, from, frame: 'AAAA' }), /relayed-frame: expected no JSON/);
  const h = '0x' + '44'.repeat(32);
  assert.throws(() => parseClientMessage({ type: 'announce', round: 3, aggregateHash: h, frameHashes: [h, 'x'] }), /announce\.frameHashes\[1\]/);
  const fromServer = parseServerMessage({ type: 'announced', round: 3, cohort: 1, from, aggregateHash: h, frameHashes: [h] });
  assert.ok(fromServer.type === 'announced' && fromServer.frameHashes[0] === h);
});
