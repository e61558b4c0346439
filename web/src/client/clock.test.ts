import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerClock } from './clock.ts';

test('offset is 0 before any observation', () => {
  const c = new ServerClock(() => 5_000);
  assert.equal(c.offset, 0);
  assert.equal(c.now(), 5_000);
});

test('the least-delayed observation wins (each one underestimates by its delay)', () => {
  let local = 1_000;
  const c = new ServerClock(() => local);
  // True offset +10_000; the messages took 40, 5 and 120 ms to arrive.
  for (const delay of [40, 5, 120]) {
    const sentAtServer = local + 10_000;
    local += delay;
    c.observe(sentAtServer);
  }
  assert.equal(c.offset, 10_000 - 5);
  assert.equal(c.msUntil(local + 10_000 - 5 + 250), 250);
});

test('old observations age out of the window (a clock step is followed)', () => {
  let local = 0;
  const c = new ServerClock(() => local, 3);
  c.observe(50_000); // offset 50 s, then the server clock steps back to +1 s
  for (let i = 0; i < 3; i++) {
    local += 100;
    c.observe(local + 1_000);
  }
  assert.equal(c.offset, 1_000);
});

test('non-finite stamps are ignored', () => {
  const c = new ServerClock(() => 0);
  c.observe(Number.NaN);
  assert.equal(c.offset, 0);
});

test('by default the server clock ignores a wall-clock step: a page whose Date jumps a minute keeps its round budget', () => {
  const realNow = Date.now;
  const c = new ServerClock();
  c.observe(realNow() + 5_000);
  const before = c.now();
  try {
    Date.now = () => realNow() + 60_000;
    c.observe(realNow() + 5_000);
    assert.ok(Math.abs(c.now() - before) < 1_000, `server time moved ${c.now() - before} ms with the wall clock`);
  } finally {
    Date.now = realNow;
  }
});
