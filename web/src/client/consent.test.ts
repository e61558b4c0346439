// Consent has a bounded lifetime (30 days in the app, 24 h in the widget), is revoked in one
// click without deleting anything else, and nothing starts without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from './storage.ts';
import { CONSENT_TTL_MS, CONSENT_VERSION, VolunteerClient } from './volunteer.ts';
import type { Trainer } from './trainer.ts';

const DAY = 24 * 3600_000;
const noTrainer = (): Trainer => {
  throw new Error('a trainer was created: something computed without consent');
};

async function clientWith(consentAgeMs: number | null, surface: 'app' | 'widget', now = 1_800_000_000_000) {
  const storage = new MemoryStorage();
  const first = await VolunteerClient.create({
    origin: 'http://127.0.0.1:1',
    storage,
    createTrainer: noTrainer,
    surface,
    now: () => now - (consentAgeMs ?? 0),
    locks: null,
  });
  if (consentAgeMs !== null) await first.consent();
  first.dispose();
  const c = await VolunteerClient.create({ origin: 'http://127.0.0.1:1', storage, createTrainer: noTrainer, surface, now: () => now, locks: null });
  return { c, storage };
}

test('app consent lasts 30 days, widget consent 24 hours; expired asks again', async () => {
  assert.equal(CONSENT_TTL_MS.app, 30 * DAY);
  assert.equal(CONSENT_TTL_MS.widget, DAY);
  for (const [age, surface, state] of [
    [29 * DAY, 'app', 'ready'],
    [31 * DAY, 'app', 'needs-consent'],
    [23 * 3600_000, 'widget', 'ready'],
    [25 * 3600_000, 'widget', 'needs-consent'],
  ] as const) {
    const { c } = await clientWith(age, surface);
    assert.equal(c.snapshot().state, state, `${surface} consent ${age / 3600_000} h old`);
    if (state === 'needs-consent')
      assert.match(
        c
          .snapshot()
          .log.map((l) => l.text)
          .join('\n'),
        /expired/,
      );
    else assert.equal(c.snapshot().consentExpiresAt, 1_800_000_000_000 - age + CONSENT_TTL_MS[surface]);
    await c.start(); // refused when expired: noTrainer would throw if anything tried to compute
    assert.notEqual(c.snapshot().state, 'starting');
    c.dispose();
  }
});

test('an older consent version asks again', async () => {
  const storage = new MemoryStorage();
  await storage.putConsent({ granted: true, at: Date.now(), version: CONSENT_VERSION - 1 });
  const c = await VolunteerClient.create({ origin: 'http://127.0.0.1:1', storage, createTrainer: noTrainer, locks: null });
  assert.equal(c.snapshot().state, 'needs-consent');
  c.dispose();
});

test('revoking is one call: consent gone, the device key and everything else kept', async () => {
  const { c, storage } = await clientWith(DAY, 'app');
  const address = c.snapshot().address;
  await c.revokeConsent();
  assert.equal(c.snapshot().state, 'needs-consent');
  assert.equal(await storage.getConsent(), undefined);
  assert.equal((await storage.getKey())?.address, address, 'the device key survives a revocation');
  await c.start();
  assert.equal(c.snapshot().state, 'needs-consent', 'start after revocation does nothing');
  c.dispose();
});
