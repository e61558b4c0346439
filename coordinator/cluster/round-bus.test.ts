// The run's rounds on a real nats-server with JetStream (Debian's package; skipped, saying so,
// only outside CI where it is missing): a report resolves once stored and a second
// (account, nonce) is reported as a duplicate and stored once; the open round and every
// acknowledged report come back after the server itself was SIGKILLed and restarted on its store;
// a publish the stream cannot acknowledge fails loudly; a malformed message on the bus is named.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import type { Address, Hex } from 'viem';
import { RoundBus, RoundBusError, type BusReport, type RoundOpening } from './round-bus.ts';
import { natsServerSkip, startNatsServer } from './nats-server.ts';

const skip = natsServerSkip();
/** A fresh store directory for one test's nats-server, removed after it. */
function storeDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-nats-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const hashOf = (b: number) => `0x${b.toString(16).padStart(2, '0').repeat(32)}` as Hex;
const h32 = `0x${'ab'.repeat(32)}` as Hex;
const account = (i: number) => `0x${i.toString(16).padStart(40, '0')}` as Address;

function report(round: number, i: number, nonce: string): BusReport {
  const contribution = {
    run: 7,
    round,
    cohort: Math.floor(i / 8),
    frameHash: h32,
    aggregateHash: h32,
    framesRoot: h32,
    residualHash: h32,
    samples: 96,
    steps: 3,
    lossBeforeMicro: 2_300_000,
    lossAfterMicro: 2_100_000 - i,
    computeMs: 1200,
    nonce,
    expiry: '1999999999',
    partner: '',
  };
  return {
    round,
    account: account(i),
    nonce,
    receivedAt: 1_800_000_000_000 + i,
    message: { type: 'report', contribution, signature: `0x${'ef'.repeat(64)}` as Hex, frameHashes: [h32] },
    // The session certificate whose key signed it, carried so a successor re-checks the chain (engine resumeRound).
    certificate: { certificate: { run: 7, device: account(i), sessionKey: h32, expiry: '1999999999' }, signature: `0x${'cd'.repeat(65)}` as Hex },
  };
}

const opening = (round: number): RoundOpening => ({
  round,
  modelHash: h32,
  startsAt: 1_800_000_000_000,
  exchangeEndsAt: 1_800_000_030_000,
  reportEndsAt: 1_800_000_035_000,
  cohorts: [[{ address: account(0), peerId: 'p0' }]],
});

test('a report resolves once the stream stores it; a second (account, nonce) is a duplicate, stored once', { skip, timeout: 30_000 }, async (t) => {
  const nats = await startNatsServer({ storeDir: storeDir(t) });
  t.after(() => nats.kill());
  const bus = await RoundBus.open({ servers: nats.url, runId: 7 });
  t.after(() => bus.close());

  const first = await bus.publishReport(report(0, 1, '11'));
  assert.equal(first.duplicate, false);
  const again = await bus.publishReport(report(0, 1, '11'));
  assert.deepEqual(again, { seq: first.seq, duplicate: true }, 'the same (account, nonce) is the same message');
  // The same nonce from another account, and another nonce from the same account, are new reports.
  const other = await bus.publishReport(report(0, 2, '11'));
  const next = await bus.publishReport(report(0, 1, '12'));
  assert.equal(other.duplicate || next.duplicate, false);
  assert.ok(other.seq > first.seq && next.seq > other.seq);
  // A second connection (another gateway) publishing the same report finds it too.
  const bus2 = await RoundBus.open({ servers: nats.url, runId: 7 });
  t.after(() => bus2.close());
  assert.deepEqual(await bus2.publishReport(report(0, 2, '11')), { seq: other.seq, duplicate: true });

  const stored = await bus.reports(0);
  assert.deepEqual(
    stored.map((r) => `${r.account}:${r.nonce}@${r.seq}`),
    [`${account(1)}:11@${first.seq}`, `${account(2)}:11@${other.seq}`, `${account(1)}:12@${next.seq}`],
  );
  assert.equal(stored[0].message.contribution.lossAfterMicro, 2_099_999, 'the signed report comes back as it was sent');
});

test(
  'after a SIGKILL of nats-server and a restart on its store, the open round and every acknowledged report come back',
  { skip, timeout: 60_000 },
  async (t) => {
    const dir = storeDir(t);
    let nats = await startNatsServer({ storeDir: dir });
    const bus = await RoundBus.open({ servers: nats.url, runId: 7 });
    await bus.publishOpen(opening(2));
    await bus.publishReport(report(2, 0, '1'));
    await bus.publishCommitted(2, h32);
    const open = await bus.publishOpen(opening(3));
    const acked: number[] = [];
    // 200 reports of 25 cohorts of 8, published concurrently as gateways would; each counts only once acknowledged.
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const p = await bus.publishReport(report(3, i, String(1000 + i)));
        acked.push(p.seq);
      }),
    );
    // Retries of the first 20 (a gateway that did not see the ack) change nothing.
    const retries = await Promise.all(Array.from({ length: 20 }, (_, i) => bus.publishReport(report(3, i, String(1000 + i)))));
    assert.ok(retries.every((r) => r.duplicate));
    // A 3 MB aggregate (about a 1M-parameter model's at realistic density): more than one NATS message holds.
    const big = new Uint8Array(3 << 20).map((_, i) => (i * 31 + 7) & 255);
    const agg = await bus.publishAggregate(3, hashOf(0xa1), big);
    assert.deepEqual(await bus.publishAggregate(3, hashOf(0xa1), big), { seq: agg.seq, duplicate: true });
    await bus.publishAggregate(3, hashOf(0xa2), big.subarray(0, 1000));
    await assert.rejects(bus.publishAggregate(3, '0xAB' as Hex, big), (e: Error) => e instanceof RoundBusError && /32 bytes of lowercase hex/.test(e.message));
    await bus.close();
    await nats.kill();

    nats = await startNatsServer({ storeDir: dir });
    t.after(() => nats.kill());
    const after = await RoundBus.open({ servers: nats.url, runId: 7 });
    t.after(() => after.close());
    const resumed = await after.openRound();
    assert.ok(resumed, 'round 3 is open on the bus');
    assert.deepEqual(resumed.opening, opening(3));
    assert.equal(resumed.seq, open.seq);
    assert.equal(resumed.reports.length, 200, 'every acknowledged report, once');
    assert.deepEqual(
      resumed.reports.map((r) => r.seq),
      [...acked].sort((a, b) => a - b),
    );
    assert.deepEqual(new Set(resumed.reports.map((r) => r.account)).size, 200);
    assert.ok(
      resumed.reports.every((r) => r.round === 3),
      'round 2 reports stay on their own subject',
    );
    assert.ok(
      resumed.reports.every((r) => r.certificate?.certificate.device === r.account && r.certificate.signature === `0x${'cd'.repeat(65)}`),
      'each report comes back with the session certificate it was journaled with',
    );

    assert.deepEqual(
      resumed.aggregates.map((a) => [a.hash, a.bytes.byteLength]),
      [
        [hashOf(0xa1), 3 << 20],
        [hashOf(0xa2), 1000],
      ],
    );
    assert.deepEqual(resumed.aggregates[0].bytes, big, 'the aggregate comes back byte for byte');

    await after.publishCommitted(3, h32);
    assert.equal(await after.openRound(), null, 'a committed round is not open');
  },
);

test(
  'a publish the stream cannot acknowledge fails, naming the subject; a malformed message on the bus is named by its sequence',
  { skip, timeout: 30_000 },
  async (t) => {
    const dir = storeDir(t);
    const nats = await startNatsServer({ storeDir: dir });
    const bus = await RoundBus.open({ servers: nats.url, runId: 9, ackTimeoutMs: 1_000 });
    t.after(() => bus.close());

    const raw = await connect({ servers: nats.url });
    const js = raw.jetstream();
    const bad = await js.publish('idlegrad.run.9.report.4', new TextEncoder().encode(JSON.stringify({ ...report(4, 1, '5'), nonce: '6' })));
    await assert.rejects(
      bus.reports(4),
      (e: Error) => e instanceof RoundBusError && e.message.includes(`report message ${bad.seq}`) && /nonce 6/.test(e.message),
    );
    // A malformed session certificate is named by its keypath; a missing one comes back null (the engine refuses that report by name).
    const good = report(5, 1, '8');
    const badCert = await js.publish(
      'idlegrad.run.9.report.5',
      new TextEncoder().encode(
        JSON.stringify({ ...good, certificate: { ...good.certificate, certificate: { ...good.certificate!.certificate, sessionKey: '0x12' } } }),
      ),
    );
    await assert.rejects(
      bus.reports(5),
      (e: Error) => e instanceof RoundBusError && e.message.includes(`report message ${badCert.seq}`) && /certificate\.certificate\.sessionKey/.test(e.message),
    );
    const { certificate: _dropped, ...bare } = report(6, 1, '9');
    await js.publish('idlegrad.run.9.report.6', new TextEncoder().encode(JSON.stringify(bare)));
    assert.deepEqual(
      (await bus.reports(6)).map((r) => r.certificate),
      [null],
    );
    await raw.close();

    await nats.kill();
    await assert.rejects(
      bus.publishReport(report(4, 2, '7')),
      (e: Error) => e instanceof RoundBusError && /did not acknowledge idlegrad\.run\.9\.report\.4/.test(e.message),
    );
    await assert.rejects(RoundBus.open({ servers: nats.url, runId: 9 }), (e: Error) => e instanceof RoundBusError && /cannot connect to NATS/.test(e.message));
  },
);
