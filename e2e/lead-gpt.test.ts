// The lead creates a GPT run on a text it uploads, against a real platform (child process:
// PGlite ledger, anvil, HTTP/WS) started on the MNIST MLP: the new run is served its own text
// (not MNIST), a virtual volunteer trains and commits a round of it, the dashboard playground
// samples text from the exported GPT in headless Chromium (onnxruntime-web), onnx-parity --url
// checks the live GPT against our WGSL forward, the lead panel creates a second GPT run on a
// file it uploads, and after a restart
// the platform hosts the run again from the stored text. An upload without the lead token is
// refused. Screenshot: e2e/test-results/dashboard-gpt-playground.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { PRESET_DEFAULTS, type RunSpec } from '../shared/config.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import { trainSet, VirtualVolunteer } from './virtual-volunteer.ts';
import { grammarCorpus } from './grammar-corpus.ts';
import { launchChromium } from './chromium.ts';
import { textId } from '../coordinator/data/index.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { parseTextUploaded } from '../shared/wire/index.ts';

const timing = { trainMs: 3000, exchangeMs: 1000, reportMs: 4000 };

async function currentRun(url: string): Promise<RunSpec> {
  return (await new CoordinatorApi(url).run()).run;
}

async function waitForRun(url: string, id: number): Promise<RunSpec> {
  const until = Date.now() + 30_000;
  for (;;) {
    const run = await currentRun(url).catch(() => null); // the server restarts during the swap
    if (run?.id === id) return run;
    if (Date.now() > until) throw new Error(`the platform did not start hosting run ${id} within 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the lead uploads a text and creates a GPT run on it; a volunteer trains a round of it; it survives a restart', { timeout: 6 * 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-lead-gpt-'));
  let platform: PlatformProcess | null = await startPlatformProcess(
    { minVolunteers: 1, cohortSize: 1, inner: { steps: 2 }, timing },
    { dataDir, quiet: !process.env.IDLEGRAD_E2E_VERBOSE },
  );
  const volunteer = new VirtualVolunteer(platform.url, generatePrivateKey());
  try {
    const token = readFileSync(join(dataDir, 'lead-token'), 'utf8').trim();
    assert.equal((await currentRun(platform.url)).preset, 'mlp');
    const corpus = grammarCorpus(6000, 3);
    const panelCorpus = grammarCorpus(5000, 8);
    const upload = (authorization?: string) =>
      fetch(new URL('api/lead/texts', platform!.url), {
        method: 'POST',
        headers: { 'content-type': 'text/plain', ...(authorization ? { authorization } : {}) },
        body: Buffer.from(corpus),
      });
    assert.equal((await upload()).status, 401, 'an anonymous upload is refused');
    assert.equal((await upload(`Bearer ${volunteer.address}`)).status, 403, 'a volunteer upload is refused');
    const up = await upload(`Bearer ${token}`);
    assert.equal(up.status, 201);
    const { text } = parseTextUploaded(await up.json(), 'text upload');

    const create = await fetch(new URL('api/lead/runs', platform.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        preset: 'gpt',
        text: text.id,
        settings: { name: 'lead-gpt', gpt: { layers: 1, context: 16 }, inner: { steps: 2, batchSize: 2 }, minVolunteers: 1, cohortSize: 1, timing },
      }),
    });
    assert.equal(create.status, 201, await create.clone().text());
    const run = await waitForRun(platform.url, 2);
    assert.equal(run.preset, 'gpt');
    // The held-out tail is 10 % of the text; training windows of 17 bytes every 8 bytes of the rest.
    const trainBytes = corpus.length - Math.floor(corpus.length * 0.1);
    assert.deepEqual(run.dataset, {
      name: 'text',
      text: text.id,
      trainCount: Math.floor((trainBytes - 17) / 8) + 1,
      testCount: 32,
      features: 17,
      classes: 256,
    });

    // Served data is the run's text, window by window.
    const data = await trainSet(platform.url);
    assert.equal(data.count, run.dataset.trainCount);
    assert.equal(data.features, 17);
    for (const i of [0, 1, data.count - 1]) assert.deepEqual(data.images.subarray(i * 17, (i + 1) * 17), corpus.subarray(i * 8, i * 8 + 17), `window ${i}`);

    // A volunteer trains a round of the GPT on it and the round commits.
    await volunteer.connect();
    assert.equal(volunteer.run.id, 2);
    volunteer.send({ type: 'start' });
    const r = await volunteer.next('round');
    const update = await volunteer.train(r, { ...data, classes: 256 });
    assert.ok(Number.isFinite(update.lossBefore) && update.lossBefore > 4, `initial loss ${update.lossBefore} (ln 256 ≈ 5.55)`);
    const agg = volunteer.aggregate(r.round, [update.frame]);
    assert.equal((await volunteer.uploadAggregate(r.round, agg.bytes)).status, 200);
    const ack = await volunteer.report(volunteer.contribution(r, update, agg), agg.frameHashes);
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    const committed = await volunteer.next('committed');
    assert.equal(committed.run, 2);
    assert.equal(await volunteer.applyCommitted(committed), true);

    // onnx-parity --url: the live GPT's ONNX export agrees with our WGSL forward (Dawn).
    const parity = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--import', './kernels/wgsl-register.mjs', 'e2e/onnx-parity.ts', '--json', '--batch', '4', '--url', platform.url],
      { encoding: 'utf8', timeout: 180_000 },
    );
    assert.equal(parity.status, 0, parity.stderr);
    // The run keeps opening rounds (an empty one commits the same model), so the export is of round 1 or later.
    // With --json the per-model line is on stderr and stdout is the JSON object alone.
    const live = /lead-gpt \(live, round (\d+)\): \d+ bytes of ONNX, 16384 outputs/.exec(parity.stderr);
    assert.ok(live && Number(live[1]) >= 1, parity.stderr);
    const summary = JSON.parse(parity.stdout) as { models: number; maxAbsDiff: number };
    assert.equal(summary.models, 1);
    assert.ok(summary.maxAbsDiff <= 1e-4, `live GPT maxAbsDiff ${summary.maxAbsDiff}`);
    console.log(`onnx-parity --url on the live GPT run: ${parity.stdout.trim()}`);

    // The dashboard playground continues a prompt with the exported GPT of the latest committed round.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 2400 } });
      await page.goto(new URL('dashboard.html', platform.url).href);
      await page.getByTestId('playground-load').click();
      await page.getByTestId('playground-prompt').fill('the dog ');
      await page.getByTestId('playground-generate').click();
      await page.getByTestId('playground-sample').waitFor({ timeout: 120_000 });
      const sample = await page.getByTestId('playground-sample').innerText();
      assert.ok(sample.startsWith('the dog ') && sample.length > 'the dog '.length, `sample ${JSON.stringify(sample)}`);
      // The volunteer keeps training while the page loads, so the playground holds round 1 or a later one.
      const shown = /ONNX of round (\d+)/.exec(await page.getByTestId('playground').innerText());
      assert.ok(shown && Number(shown[1]) >= 1, `playground model round ${shown?.[1]}`);
      mkdirSync('e2e/test-results', { recursive: true });
      await page.getByTestId('playground').screenshot({ path: 'e2e/test-results/dashboard-gpt-playground.png' });

      // The lead panel creates a GPT run on a file it uploads: run 3, on that text.
      await page.getByTestId('lead-token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const form = page.getByTestId('lead-create');
      // Choosing a preset resets the form to its defaults (gpt-micro's codec and steps, not the MLP's): name it after.
      await page.getByTestId('lead-preset').selectOption('gpt-micro');
      assert.equal(await form.getByLabel('Name').inputValue(), 'gpt-micro');
      await form.getByLabel('Name').fill('panel-gpt');
      await form.getByRole('button', { name: /^Create run/ }).click();
      await page.getByTestId('lead-error').getByText('text: choose the text file').waitFor({ timeout: 10_000 });
      await page.getByTestId('lead-text').setInputFiles({ name: 'panel.txt', mimeType: 'text/plain', buffer: Buffer.from(panelCorpus) });
      await form.getByRole('button', { name: /^Create run/ }).click();
      await page.getByTestId('lead-message').getByText('run 3').waitFor({ timeout: 20_000 });
    } finally {
      await browser.close();
    }
    assert.match(
      platform.output(),
      /round 0 committed: 1 contributions, held-out accuracy [\d.]+%, loss 5\.\d+/,
      'held-out next-byte loss near ln 256 after one round',
    );
    volunteer.close();

    const panelRun = await waitForRun(platform.url, 3);
    assert.deepEqual([panelRun.name, panelRun.preset, panelRun.dataset.text, panelRun.dataset.features], ['panel-gpt', 'gpt-micro', textId(panelCorpus), 65]);
    assert.deepEqual(
      [panelRun.codec.density, panelRun.inner.steps],
      [PRESET_DEFAULTS['gpt-micro'].codec.density, PRESET_DEFAULTS['gpt-micro'].inner.steps],
      "gpt-micro's own defaults from the form",
    );
    assert.notEqual(PRESET_DEFAULTS['gpt-micro'].codec.density, PRESET_DEFAULTS.mlp.codec.density, "the form's density is gpt-micro's, not the MLP's");
    const panelData = await trainSet(platform.url);
    assert.deepEqual(panelData.images.subarray(0, 65), panelCorpus.subarray(0, 65));

    // After a restart the GPT run is hosted again on its stored text (no IDLEGRAD_TEXT given).
    await platform.stop();
    platform = null;
    platform = await startPlatformProcess({}, { dataDir, quiet: !process.env.IDLEGRAD_E2E_VERBOSE });
    const again = await currentRun(platform.url);
    assert.deepEqual([again.id, again.preset, again.dataset.text], [3, 'gpt-micro', textId(panelCorpus)]);
    const served = await trainSet(platform.url);
    assert.deepEqual(served.images, panelData.images);
  } finally {
    volunteer.close();
    await platform?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('npm start with IDLEGRAD_TEXT: the GPT run records the text by id and is served its windows', { timeout: 3 * 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-text-start-'));
  const corpus = grammarCorpus(3000, 4);
  writeFileSync(join(dir, 'corpus.txt'), corpus);
  const platform = await startPlatformProcess(
    { preset: 'gpt', gpt: { layers: 1, context: 16 } },
    { dataDir: join(dir, 'data'), quiet: !process.env.IDLEGRAD_E2E_VERBOSE, env: { IDLEGRAD_TEXT: join(dir, 'corpus.txt') } },
  );
  try {
    const run = await currentRun(platform.url);
    assert.deepEqual([run.id, run.preset, run.dataset.name, run.dataset.text, run.dataset.features], [1, 'gpt', 'text', textId(corpus), 17]);
    assert.deepEqual(readFileSync(join(dir, 'data', 'texts', `${textId(corpus)}.txt`)), Buffer.from(corpus));
    const data = await trainSet(platform.url);
    assert.equal(data.count, run.dataset.trainCount);
    assert.deepEqual(data.images.subarray(17, 34), corpus.subarray(8, 25));
  } finally {
    await platform.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
