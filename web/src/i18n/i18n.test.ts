import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en, type Messages } from './en.ts';
import { de } from './de.ts';
import { chooseLanguage, loadMessages, LANGUAGES } from './index.ts';
import { plural } from './plural.ts';

// One sample for every message that takes parameters, typed from the catalog: a new message
// with parameters does not compile until it has a sample here.
type ParamsOf<T> = { [K in keyof T as T[K] extends (p: never) => string ? K : never]: T[K] extends (p: infer P) => string ? P : never };
type Samples = { [S in keyof Messages]: ParamsOf<Messages[S]> };
const SAMPLES: Samples = {
  app: { outboxWaiting: { count: 7 }, couldNotStart: { reason: 'disk full' } },
  consent: { intro: { model: 'an MNIST digit classifier' }, modelGpt: { params: '10,935,552' }, lasts: { lasts: '30 days' }, compact: { lasts: '24 hours' } },
  state: {},
  controls: { gpuBusy: { percent: 42, round: 17 }, until: { when: '6 Dec 2026, 10:00' } },
  training: {
    runHint: { id: 3, name: 'mnist-mlp' },
    perRound: { steps: 25, batchSize: 64 },
    lossHint: { round: 11, steps: 100 },
    atRound: { round: 12 },
    cohortHint: { id: 5, linked: 2 },
  },
  prefs: {
    batteryCharging: { level: '80 %' },
    batteryDischarging: { level: '35 %' },
    pressure: { state: 'serious' },
    paused: { reasons: 'this tab is hidden' },
  },
  profile: {
    samplesPerSec: { samples: '1,234' },
    atBudget: { preset: 'medium', percent: 50 },
    tooSlow: { preset: 'light', seconds: '93' },
    needsBytes: { total: '372.0 MiB', largest: '41.7 MiB' },
  },
  log: {},
  claim: { watch: { symbol: 'IDLE' } },
  credit: {
    vestingHint: { rounds: 120 },
    verified: { amount: '1.25', symbol: 'IDLE', epoch: 4, root: '0xabc…def' },
    notVerified: { root: '0x123…456' },
    creditedGpu: { samples: '12,800' },
    cpuSamples: { samples: '640' },
    round: { round: 9 },
    via: { partner: 'example-news' },
    reportsSent: { count: 13 },
  },
  backup: {
    lossWallet: { wallet: '0x1111…2222' },
    saved: { name: 'idlegrad-key-0xabcd.json' },
    candidate: { address: '0x3333…4444', credit: '2.5', symbol: 'IDLE', count: 21 },
    candidateNew: { address: '0x5555…6666' },
    replaceWarning: { current: '0x7777…8888', credit: '0.75', symbol: 'IDLE' },
    replaced: { address: '0x9999…aaaa' },
  },
  widget: {
    forPartner: { partner: 'example-news' },
    partnerWork: { rounds: 8, samples: '3,200' },
    pending: { pending: '2' },
  },
  dashboard: {
    runLine: { id: 2, name: 'second-run', params: '109,386' },
    lossRising: { rounds: 4, since: 17 },
    roundN: { round: 31 },
    thetaOf: { round: 32 },
    afterRound: { round: 33 },
    flopPerSample: { flop: '656,000' },
    verification: { verified: 3, failed: 1, sampled: 2 },
    epochTotal: { total: '12.5', count: 23 },
    postingFailed: { attempts: 4, error: 'nonce too low', retryAt: '10:42:07' },
    updated: { at: '10:41:59' },
    hashChainRow: { round: 34, updates: 6 },
  },
  lead: { runIs: { id: 7 }, presetGpt: { size: 'small', params: '10,935,552', memory: '372 MiB' } },
  playground: { onnxOf: { round: 40, hash: '0x12ab34cd' }, penDown: { x: 14, y: 9 } },
};

function entries(m: Messages): [string, string, unknown][] {
  return Object.entries(m).flatMap(([section, keys]) => Object.entries(keys as object).map(([key, v]): [string, string, unknown] => [section, key, v]));
}

for (const lang of LANGUAGES) {
  test(`the '${lang}' catalog has every key of English, no empty text, and every interpolation shows its parameters`, async () => {
    const m = await loadMessages(lang);
    assert.deepEqual(
      entries(m).map(([s, k, v]) => `${s}.${k}:${typeof v}`),
      entries(en).map(([s, k, v]) => `${s}.${k}:${typeof v}`),
    );
    for (const [section, key, v] of entries(m)) {
      const where = `${lang}: ${section}.${key}`;
      if (typeof v === 'string') {
        assert.ok(v.trim().length > 0, `${where} is empty`);
        continue;
      }
      const params = (SAMPLES as unknown as Record<string, Record<string, Record<string, string | number>>>)[section][key];
      assert.ok(params, `${where} has no sample parameters`);
      const out = (v as (p: object) => unknown)(params);
      assert.equal(typeof out, 'string', `${where} returns a string`);
      assert.ok(!/undefined|NaN|\[object/.test(out as string), `${where} shows a missing parameter: ${out as string}`);
      for (const [name, value] of Object.entries(params)) assert.ok((out as string).includes(String(value)), `${where} drops {${name}}: ${out as string}`);
    }
  });
}

// Words German shares with English; every other German string must differ from the English one.
const SAME_IN_GERMAN = new Set([
  'app.dashboard',
  'controls.start',
  'controls.phase',
  'controls.gpu',
  'training.heading',
  'prefs.seconds',
  'dashboard.chain',
  'dashboard.nats',
  'lead.name',
]);

test('German is a translation, not a copy of English', () => {
  const english = new Map(entries(en).map(([s, k, v]) => [`${s}.${k}`, v]));
  const same = entries(de)
    .filter(([s, k, v]) => typeof v === 'string' && v === english.get(`${s}.${k}`) && !SAME_IN_GERMAN.has(`${s}.${k}`))
    .map(([s, k]) => `${s}.${k}`);
  assert.deepEqual(same, [], `untranslated: ${same.join(', ')}`);
  assert.equal(de.consent.heading, 'Bevor irgendetwas läuft');
});

test('plurals follow Intl.PluralRules of the language', () => {
  assert.equal(en.app.outboxWaiting({ count: 1 }), '1 signed report waits in this browser and is sent then.');
  assert.equal(en.app.outboxWaiting({ count: 3 }), '3 signed reports wait in this browser and are sent then.');
  assert.equal(de.app.outboxWaiting({ count: 1 }), '1 signierter Bericht wartet in diesem Browser und wird dann gesendet.');
  assert.equal(de.app.outboxWaiting({ count: 0 }), '0 signierte Berichte warten in diesem Browser und werden dann gesendet.');
  // A language with more forms picks them: Polish has 'few' for 2–4 and 'many' for 5–21.
  const forms = { one: '# plik', few: '# pliki', many: '# plików', other: '# pliku' };
  assert.deepEqual(
    [1, 3, 5, 22].map((n) => plural('pl', n, forms)),
    ['1 plik', '3 pliki', '5 plików', '22 pliki'],
  );
});

test("the page's language is the first of the reader's languages that has a catalog, else English", () => {
  assert.equal(chooseLanguage(['de-DE', 'en-US']), 'de');
  assert.equal(chooseLanguage(['de']), 'de');
  assert.equal(chooseLanguage(['DE_at']), 'de');
  assert.equal(chooseLanguage(['en-GB', 'de-DE']), 'en');
  assert.equal(chooseLanguage(['fr-FR', 'de-CH', 'en']), 'de');
  assert.equal(chooseLanguage(['fr-FR', 'ja']), 'en');
  assert.equal(chooseLanguage([]), 'en');
});
