import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { AddressInfo } from 'node:net';
import * as ort from 'onnxruntime-web';
import { DEFAULT_RUN, runSpecOf, type RunSettings, type RunSpec } from '../shared/config.ts';
import { hashParams, initParams, mlpSpec } from '../shared/model.ts';
import type { RunStatus } from '../shared/protocol.ts';
import { eip712Domain } from '../shared/eip712.ts';
import { mlpForward } from '../shared/mlp.ts';
import { openDatabase } from './db/sql.ts';
import { Ledger } from './db/ledger.ts';
import { RunTable } from './db/runs.ts';
import { RoundEngine } from './engine.ts';
import { leadRoutes, parseRunRequest, resolveLeadToken, type RunControl } from './lead.ts';

const TOKEN = 'lead-token-for-tests-0123456789';
const dataset = { name: 'mnist' as const, trainCount: 100, testCount: 10, features: 784, classes: 10 };
const heldOut = { images: new Uint8Array(10 * 784), labels: new Uint8Array(10), count: 10, features: 784, classes: 10 };

/** A real engine over an in-memory ledger, and a RunControl that persists like platform.ts. */
async function setup() {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const runs = new RunTable(sql);
  const run = runSpecOf(1, DEFAULT_RUN, dataset);
  const params = initParams(mlpSpec(run.sizes), run.seed);
  const state = { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) };
  await ledger.createRun(run, state);
  const engine = new RoundEngine(run, state, ledger, heldOut, eip712Domain(31337, '0x0000000000000000000000000000000000000001'), { committed() {}, accountsChanged() {} });
  const created: RunSpec[] = [];
  const control: RunControl = {
    current: () => ({ run, status: engine.status }),
    async create(settings: RunSettings) {
      const spec = runSpecOf(await runs.nextId(), settings, dataset);
      created.push(spec);
      return spec;
    },
    async setStatus(id: number, status: RunStatus) {
      await runs.setStatus(id, status, status === 'active' ? 'resume' : status === 'paused' ? 'pause' : 'stop');
      engine.setStatus(status);
    },
  };
  const app = express();
  app.use(leadRoutes({ token: TOKEN, control, engine }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  after(async () => {
    server.close();
    engine.stop();
    await sql.close();
  });
  return { base, engine, runs, created, params, run };
}

const post = (base: string, path: string, body: unknown, auth?: string) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify(body) });

test('run creation and changes without the lead token are refused (401 anonymous, 403 other tokens)', async () => {
  const { base, engine, runs, created } = await setup();
  const attempts: [string, unknown][] = [
    ['/api/lead/runs', { preset: 'mlp' }],
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
  assert.deepEqual((await runs.events(1)).map((e) => e.action), ['pause', 'resume', 'stop']);
});

test('run creation validates every setting and names the failing field', async () => {
  const { base, created } = await setup();
  const auth = `Bearer ${TOKEN}`;
  const bad: [unknown, RegExp][] = [
    [{ preset: 'gpt2' }, /^preset: expected "mlp"/],
    [{ preset: 'mlp', settings: { inner: { steps: 0 } } }, /^settings\.inner\.steps: expected an integer in \[1, 10000\], got 0/],
    [{ preset: 'mlp', settings: { codec: { density: 2 } } }, /^settings\.codec\.density:/],
    [{ preset: 'mlp', settings: { codec: { bits: 3 } } }, /^settings\.codec\.bits: expected one of/],
    [{ preset: 'mlp', settings: { cohortSize: 1.5 } }, /^settings\.cohortSize:/],
    [{ preset: 'mlp', settings: { timing: { reportMs: 10 } } }, /^settings\.timing\.reportMs:/],
    [{ preset: 'mlp', settings: { verification: { rate: 1.5 } } }, /^settings\.verification\.rate: expected a number in \[0, 1\]/],
    [{ preset: 'mlp', settings: { verification: { sometimes: true } } }, /^settings\.verification\.sometimes: unknown setting/],
    [{ preset: 'mlp', settings: { rewards: { weiPerSample: '-1' } } }, /^settings\.rewards\.weiPerSample:/],
    [{ preset: 'mlp', settings: { codec: { densty: 0.1 } } }, /^settings\.codec\.densty: unknown setting/],
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

  const ok = await post(base, '/api/lead/runs', { preset: 'mlp', settings: { name: 'wide', sizes: [784, 32, 10], inner: { steps: 20 }, codec: { density: 0.05, bits: 8 }, cohortSize: 4, verification: { rate: 0.2 }, rewards: { epochRounds: 2 } } }, auth);
  assert.equal(ok.status, 201);
  assert.equal((await ok.json()).run.id, 2);
  const s = created[0];
  assert.deepEqual([s.name, s.sizes, s.inner.steps, s.inner.batchSize, s.codec.density, s.codec.bits, s.cohortSize, s.verification?.rate, s.rewards.epochRounds], ['wide', [784, 32, 10], 20, DEFAULT_RUN.inner.batchSize, 0.05, 8, 4, 0.2, 2]);
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
