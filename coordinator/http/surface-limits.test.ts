import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SURFACE_LIMITS, isLoopback, messageBucket, SessionCounter, surfaceLimitsOf } from './surface-limits.ts';

test('sockets per address: the limit is per address, loopback has its own, a closed socket frees its place', () => {
  const c = new SessionCounter({ ...DEFAULT_SURFACE_LIMITS, sessionsPerIp: 2, loopbackSessionsPerIp: 3 });
  assert.deepEqual(
    [c.admit('203.0.113.5'), c.admit('203.0.113.5'), c.admit('203.0.113.5')].map((r) => r.ok),
    [true, true, false],
  );
  assert.deepEqual(c.admit('203.0.113.5'), { ok: false, limit: 2 });
  assert.equal(c.admit('203.0.113.6').ok, true, 'another address has its own count');
  c.release('203.0.113.5');
  assert.equal(c.admit('203.0.113.5').ok, true);
  assert.deepEqual(
    ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.0.0.1'].map((ip) => c.admit(ip).ok),
    [true, true, true, true],
    'loopback forms differ by string; each its own count',
  );
  assert.equal(c.admit('127.0.0.1').ok, true);
  assert.deepEqual(c.admit('127.0.0.1'), { ok: false, limit: 3 });
  assert.equal(isLoopback('10.0.0.1'), false);
});

test('message rate: a burst, then the average rate, with no real time', () => {
  let now = 0;
  const take = messageBucket({ ...DEFAULT_SURFACE_LIMITS, messagesPerSecond: 10, messageBurst: 5 }, '198.51.100.7', () => now);
  assert.deepEqual(
    Array.from({ length: 7 }, () => take()),
    [true, true, true, true, true, false, false],
  );
  now += 100; // 0.1 s: one more
  assert.deepEqual([take(), take()], [true, false]);
  now += 60_000; // refills to the burst, not beyond
  assert.equal(Array.from({ length: 10 }, () => take()).filter(Boolean).length, 5);
  const local = messageBucket({ ...DEFAULT_SURFACE_LIMITS, messagesPerSecond: 10, messageBurst: 5, loopbackMessagesPerSecond: 50 }, '127.0.0.1', () => now);
  assert.equal(Array.from({ length: 60 }, () => local()).filter(Boolean).length, 50, 'loopback: its own rate, bursting to it');
});

test('IDLEGRAD_LIMITS overrides are validated by name', () => {
  assert.deepEqual(surfaceLimitsOf(undefined), DEFAULT_SURFACE_LIMITS);
  assert.equal(surfaceLimitsOf({ sessionsPerIp: 4 }).sessionsPerIp, 4);
  assert.throws(() => surfaceLimitsOf({ sessionPerIp: 4 }), /IDLEGRAD_LIMITS\.sessionPerIp: not a limit/);
  assert.throws(() => surfaceLimitsOf({ helloTimeoutMs: -1 }), /IDLEGRAD_LIMITS\.helloTimeoutMs: expected a positive number, got -1/);
  assert.throws(() => surfaceLimitsOf([1]), /expected a JSON object/);
});
