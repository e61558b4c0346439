import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { AddressInfo } from 'node:net';
import * as ort from 'onnxruntime-web';
import { DEFAULT_GPT_RUN, DEFAULT_RUN, modelOf, PRESET_DEFAULTS, runSpecOf, type RunSettings, type RunSpec } from '../../shared/config.ts';
import { gptSpec, GPT_BASE, GPT_DEFAULT, GPT_SMALL, hashParams, initParams, mlpSpec } from '../../shared/model.ts';
import { gptLossAndGrad } from '../../shared/gpt.ts';
import type { RunStatus } from '../../shared/wire/index.ts';
import { eip712Domain } from '../../shared/eip712.ts';
import { mlpForward } from '../../shared/mlp.ts';
import { openDatabase, Ledger, RunTable } from '../db/index.ts';
import { RoundEngine } from '../round/index.ts';
import { BadRequest, leadRoutes, parsePartnerRequest, parseRunRequest, resolveLeadToken, type RunControl } from './lead.ts';
import { TextStore, textId } from '../data/index.ts';
import { grammarCorpus } from '../../e2e/grammar-corpus.ts';

const TOKEN = 'lead-token-for-tests-0123456789';
const dataset = { name: 'mnist' as const, trainCount: 100, testCount: 10, features: 784, classes: 10 };
const heldOut = { images: new Uint8Array(10 * 784), labels: new Uint8Array(10), count: 10, features: 784, classes: 10 };

/** A real engine over an in-memory ledger, and a RunControl that persists like platform.ts. */
async function setup(settings: RunSettings = DEFAULT_RUN) {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const runs = new RunTable(sql);
  const run = runSpecOf(1, settings, dataset);
  const params = initParams(modelOf(run), run.seed);
  const state = { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) };
  await ledger.createRun(run, state);
  const engine = new RoundEngine(run, state, ledger, heldOut, eip712Domain(31337, '0x0000000000000000000000000000000000000001'), {
    committed() {},
    accountsChanged() {},
  });
  const created: RunSpec[] = [];
  const createdTexts: (string | undefined)[] = [];
  const control: RunControl = {
    current: () => ({ run, status: engine.status }),
    async create(settings: RunSettings, data) {
      const spec = runSpecOf(await runs.nextId(), settings, dataset);
      created.push(spec);
      createdTexts.push(data?.text);
      return spec;
    },
    async setStatus(id: number, status: RunStatus) {
      await runs.setStatus(id, status, status === 'active' ? 'resume' : status === 'paused' ? 'pause' : 'stop');
      engine.setStatus(status);
    },
  };
  const textDir = mkdtempSync(join(tmpdir(), 'idlegrad-texts-'));
  const texts = new TextStore(textDir);
  const app = express();
  app.use(leadRoutes({ token: TOKEN, control, engine, texts }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  after(async () => {
    server.close();
    engine.stop();
    await sql.close();
    rmSync(textDir, { recursive: true, force: true });
  });
  return { base, engine, runs, created, createdTexts, texts, params, run };
}

const post = (base: string, path: string, body: unknown, auth?: string) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(body),
  });

test('run creation and changes without the lead token are refused (401 anonymous, 403 other tokens)', async () => {
  const { base, engine, runs, created } = await setup();
  const attempts: [string, unknown][] = [
    ['/api/lead/runs', { preset: 'mlp' }],
    ['/api/lead/texts', 'some text to train on'],
    ['/api/lead/runs/1/pause', {}],
    ['/api/lead/runs/1/resume', {}],
    ['/api/lead/runs/1/stop', {}],
  ];
  for (const [path, body] of attempts) {
    const anon = await post(base, path, body);
    assert.equal(anon.status, 401, path);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.match((await anon.json()).error.message, /lead access required/);
    // A volunteer has no lead token; whatever it sends (its address, a signature) is not one.
    const volunteer = await post(base, path, body, 'Bearer 0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
    assert.equal(volunteer.status, 403, path);
    assert.match((await volunteer.json()).error.message, /only the project lead/);
    const basic = await post(base, path, body, `Basic ${Buffer.from(`lead:${TOKEN}`).toString('base64')}`);
    assert.equal(basic.status, 401, path);
  }
  assert.equal(created.length, 0);
  assert.equal(engine.status, 'active');
  assert.deepEqual(await runs.events(1), []);
  assert.equal((await fetch(`${base}/api/lead/session`)).status, 401);
});

test('the lead pauses, resumes and stops the run; each change is persisted and logged', async () => {
  const { base, engine, runs } = await setup();
  const auth = `Bearer ${TOKEN}`;
  assert.equal((await fetch(`${base}/api/lead/session`, { headers: { authorization: auth } })).status, 200);
  assert.deepEqual(await (await post(base, '/api/lead/runs/1/pause', {}, auth)).json(), { run: { id: 1, status: 'paused' } });
  assert.equal(engine.status, 'paused');
  assert.equal(await runs.status(1), 'paused');
  assert.equal((await post(base, '/api/lead/runs/1/resume', {}, auth)).status, 200);
  assert.equal(engine.status, 'active');
  assert.equal((await post(base, '/api/lead/runs/2/pause', {}, auth)).status, 404);
  assert.equal((await post(base, '/api/lead/runs/1/explode', {}, auth)).status, 400);
  assert.equal((await post(base, '/api/lead/runs/1/stop', {}, auth)).status, 200);
  assert.equal(engine.status, 'stopped');
  const again = await post(base, '/api/lead/runs/1/resume', {}, auth);
  assert.equal(again.status, 409);
  assert.equal(engine.status, 'stopped');
  assert.deepEqual(
    (await runs.events(1)).map((e) => e.action),
    ['pause', 'resume', 'stop'],
  );
});

test('run creation validates every setting and names the failing field', async () => {
  const { base, created } = await setup();
  const auth = `Bearer ${TOKEN}`;
  const bad: [unknown, RegExp][] = [
    [{ preset: 'gpt2' }, /^preset: expected one of "mlp", "gpt-micro", "gpt-small", "gpt-base", "gpt", got "gpt2"/],
    [{ preset: 'gpt-small' }, /^text: a GPT run needs the id of an uploaded text/],
    [{ preset: 'gpt-base', text: 'ab'.repeat(32), settings: { preset: 'gpt-small' } }, /^settings\.preset: must equal preset \("gpt-base"\)/],
    [{ preset: 'gpt' }, /^text: a GPT run needs the id of an uploaded text/],
    [{ preset: 'gpt', text: 'corpus.txt' }, /^text: a GPT run needs the id of an uploaded text/],
    [{ preset: 'gpt', text: 'ab'.repeat(32) }, /^text: no uploaded text has id abab/],
    [{ preset: 'mlp', text: 'ab'.repeat(32) }, /^text: an MLP run trains on MNIST/],
    [{ preset: 'gpt', text: 'ab'.repeat(32), settings: { gpt: { heads: 5 } } }, /^settings\.gpt: gptSpec: width 64 is not a multiple of heads 5/],
    [{ preset: 'gpt', text: 'ab'.repeat(32), settings: { gpt: { depth: 3 } } }, /^settings\.gpt\.depth: unknown setting/],
    [{ preset: 'mlp', settings: { inner: { steps: 0 } } }, /^settings\.inner\.steps: expected an integer in \[1, 10000\], got 0/],
    [{ preset: 'mlp', settings: { codec: { density: 2 } } }, /^settings\.codec\.density:/],
    [{ preset: 'mlp', settings: { codec: { bits: 3 } } }, /^settings\.codec\.bits: expected one of/],
    [{ preset: 'mlp', settings: { cohortSize: 1.5 } }, /^settings\.cohortSize:/],
    [{ preset: 'mlp', settings: { timing: { reportMs: 10 } } }, /^settings\.timing\.reportMs:/],
    [{ preset: 'mlp', settings: { verification: { rate: 1.5 } } }, /^settings\.verification\.rate: expected a number in \[0, 1\]/],
    [{ preset: 'mlp', settings: { verification: { sometimes: true } } }, /^settings\.verification\.sometimes: unknown setting/],
    [{ preset: 'mlp', settings: { rewards: { weiPerSample: '-1' } } }, /^settings\.rewards\.weiPerSample:/],
    [{ preset: 'mlp', settings: { codec: { densty: 0.1 } } }, /^settings\.codec\.densty: unknown setting/],
    [{ preset: 'mlp', settings: { valueOf: [false, 1] } }, /^settings\.valueOf: unknown setting/],
    [{ preset: 'mlp', settings: { codec: { toString: 'x' } } }, /^settings\.codec\.toString: unknown setting/],
    [{ preset: 'mlp', settings: { name: '<script>' } }, /^settings\.name:/],
  ];
  for (const [body, message] of bad) {
    const res = await post(base, '/api/lead/runs', body, auth);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match((await res.json()).error.message, message);
  }
  const bodyNotJson = await fetch(`${base}/api/lead/runs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: '{' });
  assert.equal(bodyNotJson.status, 400);
  assert.equal(created.length, 0, 'nothing is created from a bad request');

  const ok = await post(
    base,
    '/api/lead/runs',
    {
      preset: 'mlp',
      settings: {
        name: 'wide',
        sizes: [784, 32, 10],
        inner: { steps: 20 },
        codec: { density: 0.05, bits: 8 },
        cohortSize: 4,
        verification: { rate: 0.2 },
        rewards: { epochRounds: 2 },
      },
    },
    auth,
  );
  assert.equal(ok.status, 201);
  assert.equal((await ok.json()).run.id, 2);
  const s = created[0];
  assert.deepEqual(
    [s.name, s.sizes, s.inner.steps, s.inner.batchSize, s.codec.density, s.codec.bits, s.cohortSize, s.verification?.rate, s.rewards.epochRounds],
    ['wide', [784, 32, 10], 20, DEFAULT_RUN.inner.batchSize, 0.05, 8, 4, 0.2, 2],
  );
});

test('GET /api/model.onnx is the current model: onnxruntime-web reproduces our forward pass', async () => {
  const { base, engine, params, run } = await setup();
  const res = await fetch(`${base}/api/model.onnx`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-model-hash'), engine.modelHash);
  assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="mnist-mlp-run1-round0\.onnx"/);
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['wasm'] });
  const x = Float32Array.from({ length: 2 * 784 }, (_, i) => (i % 17) / 17);
  const { logits } = await session.run({ x: new ort.Tensor('float32', x, [2, 784]) });
  const want = mlpForward(mlpSpec(run.sizes), params, x, 2).at(-1)!;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs((logits.data as Float32Array)[i] - want[i]) < 1e-4);
});

test('the lead uploads a text (stored by its sha256, size-limited) and creates a GPT run on it', async () => {
  const { base, created, createdTexts, texts } = await setup();
  const auth = `Bearer ${TOKEN}`;
  const upload = (body: Uint8Array | string, authorization = auth) =>
    fetch(`${base}/api/lead/texts`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization },
      body: typeof body === 'string' ? body : Buffer.from(body),
    });
  const corpus = grammarCorpus(4000, 5);
  const up = await upload(corpus);
  assert.equal(up.status, 201);
  const { text } = (await up.json()) as { text: { id: string; bytes: number } };
  assert.deepEqual(text, { id: textId(corpus), bytes: 4000 });
  assert.deepEqual(texts.get(text.id), corpus);
  assert.equal((await upload(corpus)).status, 201, 'the same text again is the same id');
  const empty = await upload('');
  assert.equal(empty.status, 400);
  assert.match((await empty.json()).error.message, /^body: expected the text file's bytes/);
  const huge = await upload(new Uint8Array(8 * 1024 * 1024 + 1));
  assert.equal(huge.status, 413);
  assert.match((await huge.json()).error.message, /^body: larger than the limit of 8388608 bytes/);
  assert.equal((await upload(corpus, 'Bearer not-the-lead-token-at-all')).status, 403);

  const ok = await post(
    base,
    '/api/lead/runs',
    { preset: 'gpt', text: text.id, settings: { name: 'tiny-gpt', gpt: { layers: 1 }, inner: { steps: 4, batchSize: 2 } } },
    auth,
  );
  assert.equal(ok.status, 201, await ok.clone().text());
  const s = created[0];
  assert.deepEqual(
    [s.preset, s.name, s.gpt, s.inner.steps, s.paramCount],
    ['gpt', 'tiny-gpt', { ...GPT_DEFAULT, layers: 1 }, 4, gptSpec({ ...GPT_DEFAULT, layers: 1 }).paramCount],
  );
  assert.deepEqual([s.codec, s.inner.adamw], [DEFAULT_GPT_RUN.codec, DEFAULT_GPT_RUN.inner.adamw], "the GPT preset's own defaults under the settings given");
  assert.deepEqual(createdTexts, [text.id]);
});

test('a create request for a GPT by size starts from that preset: its dims, batch and codec under the settings given', () => {
  const text = 'ab'.repeat(32);
  const small = parseRunRequest({ preset: 'gpt-small', text, settings: { name: 'small', inner: { steps: 3 } } });
  assert.equal(small.text, text);
  assert.deepEqual([small.settings.preset, small.settings.gpt, small.settings.inner.steps, small.settings.inner.batchSize], ['gpt-small', GPT_SMALL, 3, 4]);
  assert.deepEqual(small.settings.codec, PRESET_DEFAULTS['gpt-small'].codec);
  assert.equal(modelOf(small.settings).paramCount, 10_935_552);
  const base = parseRunRequest({ preset: 'gpt-base', text, settings: { gpt: { layers: 2 } } });
  assert.deepEqual(base.settings.gpt, { ...GPT_BASE, layers: 2 });
  const micro = parseRunRequest({ preset: 'gpt-micro', text });
  assert.deepEqual([micro.settings.preset, micro.settings.gpt], ['gpt-micro', GPT_DEFAULT]);
});

test('GET /api/model.onnx of a GPT run is the GPT: onnxruntime-web reproduces the reference logits', async () => {
  const settings: RunSettings = { ...DEFAULT_RUN, name: 'gpt', preset: 'gpt', gpt: { layers: 1, context: 16 } };
  const { base, params, run } = await setup(settings);
  const res = await fetch(`${base}/api/model.onnx`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-disposition') ?? '', /filename="gpt-run1-round0\.onnx"/);
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['wasm'] });
  const [B, T] = [2, 9];
  const tokens = Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % 256);
  const { logits } = await session.run({ tokens: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [B, T]) });
  assert.deepEqual(logits.dims, [B, T, 256]);
  const spec = modelOf(run);
  assert.equal(spec.preset, 'gpt');
  const want = gptLossAndGrad(spec as ReturnType<typeof gptSpec>, params, tokens, tokens, B, T, false).logits;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs((logits.data as Float32Array)[i] - want[i]));
  assert.ok(worst < 1e-4, `max |ONNX − reference| = ${worst}`);
});

test('the lead token persists per data dir, 0600; the environment overrides it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-lead-'));
  try {
    const t = resolveLeadToken(dir);
    assert.ok(t.length >= 32);
    assert.equal(resolveLeadToken(dir), t);
    assert.equal(readFileSync(join(dir, 'lead-token'), 'utf8').trim(), t);
    assert.equal(statSync(join(dir, 'lead-token')).mode & 0o777, 0o600);
    assert.equal(resolveLeadToken(dir, 'from-the-environment-123'), 'from-the-environment-123');
    assert.throws(() => resolveLeadToken(dir, 'short'), /IDLEGRAD_LEAD_TOKEN: expected at least 16 characters/);
    assert.throws(() => parseRunRequest([]), /^Error: body:|body: expected/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('partner registrations: an id as a widget signs it and http(s) origins; anything else is refused naming the field', () => {
  assert.deepEqual(parsePartnerRequest({ id: 'daily.example', origins: ['https://daily.example', 'http://localhost:8080'] }), {
    id: 'daily.example',
    origins: ['https://daily.example', 'http://localhost:8080'],
  });
  for (const [body, field] of [
    [null, /body/],
    [{ id: '<script>', origins: [] }, /^id/],
    [{ id: '', origins: [] }, /^id/],
    [{ id: 'x'.repeat(65), origins: [] }, /^id/],
    [{ id: 'blog', origins: 'https://blog.example' }, /^origins/],
    [{ id: 'blog', origins: ['https://blog.example/path'] }, /^origins\[0\]/],
    [{ id: 'blog', origins: ['javascript:alert(1)'] }, /^origins\[0\]/],
  ] as const)
    assert.throws(
      () => parsePartnerRequest(body),
      (e: Error) => e instanceof BadRequest && field.test(e.message),
      JSON.stringify(body),
    );
});
