// test-lane: serial — readiness checks here time out after 500 ms of real time; a file beside it on
// the two cores must not be what makes a local answer late (e2e/test-lanes.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import express from 'express';
import { opsRoutes, readiness, rpcCheck } from './health.ts';
import { OpsMetrics } from './metrics.ts';

test('readiness names each failed check: a refusal, a hang past the timeout; the passing ones are ok', async () => {
  const r = await readiness(
    [
      { name: 'ledger', check: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432\nmore')) },
      { name: 'chain', check: () => new Promise(() => {}) },
      { name: 'fine', check: async () => {} },
    ],
    100,
  );
  assert.equal(r.ready, false);
  assert.deepEqual(r.failed, ['ledger', 'chain']);
  assert.equal(r.checks.ledger.error, 'connect ECONNREFUSED 127.0.0.1:5432');
  assert.equal(r.checks.chain.error, 'no answer within 100 ms');
  assert.ok(r.checks.chain.ms >= 90);
  assert.deepEqual(r.checks.fine.ok, true);
});

test('/healthz, /readyz (200, then 503 naming what failed, and while draining), /metrics over HTTP; the chain check speaks JSON-RPC', async () => {
  let rpcUp = true;
  const rpc = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const { method, id } = JSON.parse(body) as { method: string; id: number };
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify(rpcUp && method === 'eth_blockNumber' ? { jsonrpc: '2.0', id, result: '0x10' } : { jsonrpc: '2.0', id, error: { message: 'down' } }),
      );
    });
  });
  await new Promise<void>((r) => rpc.listen(0, '127.0.0.1', r));
  const rpcUrl = `http://127.0.0.1:${(rpc.address() as { port: number }).port}/`;
  let ledgerUp = true;
  let draining = false;
  const metrics = new OpsMetrics();
  const app = express().use(
    opsRoutes({
      metrics,
      checks: () => [{ name: 'ledger', check: async () => void (ledgerUp || (await Promise.reject(new Error('ledger down')))) }, rpcCheck(rpcUrl, 500)],
      draining: () => draining,
      timeoutMs: 500,
    }),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ok = await fetch(`${base}/readyz`);
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { role: string; failed: string[] }).role, 'single', 'one coordinator, no cluster');
    assert.deepEqual(((await (await fetch(`${base}/readyz`)).json()) as { failed: string[] }).failed, []);
    ledgerUp = false;
    rpcUp = false;
    const down = await fetch(`${base}/readyz`);
    assert.equal(down.status, 503);
    const body = (await down.json()) as { ready: boolean; failed: string[]; checks: Record<string, { error?: string }> };
    assert.deepEqual([body.ready, body.failed], [false, ['ledger', 'chain']]);
    assert.equal(body.checks.ledger.error, 'ledger down');
    assert.equal(body.checks.chain.error, 'RPC error: down');
    ledgerUp = rpcUp = true;
    draining = true;
    const leaving = (await (await fetch(`${base}/readyz`)).json()) as { failed: string[] };
    assert.deepEqual(leaving.failed, ['draining']);
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'still alive while draining');
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^# HELP idlegrad_reports_total /m);
    assert.match(text, /^idlegrad_round_phase\{phase="idle"\} 1$/m);
  } finally {
    server.close();
    rpc.close();
  }
});

test("/readyz of a cluster's leader names its role and fails once its lease is lost", async () => {
  let held = true;
  const lease = { name: 'lease', check: async () => void (held || (await Promise.reject(new Error('this coordinator no longer holds the leader lock')))) };
  const app = express().use(
    opsRoutes({
      metrics: new OpsMetrics(),
      checks: () => [{ name: 'ledger', check: async () => {} }],
      draining: () => false,
      role: { role: 'leader', checks: [lease] },
    }),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/readyz`;
  try {
    const up = await fetch(url);
    const body = (await up.json()) as { role: string; checks: Record<string, { ok: boolean }> };
    assert.deepEqual([up.status, body.role, body.checks.lease.ok], [200, 'leader', true]);
    held = false;
    const lost = await fetch(url);
    const gone = (await lost.json()) as { role: string; failed: string[]; checks: Record<string, { error?: string }> };
    assert.deepEqual([lost.status, gone.role, gone.failed], [503, 'leader', ['lease']]);
    assert.equal(gone.checks.lease.error, 'this coordinator no longer holds the leader lock');
  } finally {
    server.close();
  }
});
