// Operations end to end (coordinator/ops/): /metrics counts a small run of protocol-level
// volunteers as it happens; /readyz fails, naming the ledger, when a PostgreSQL ledger's server
// is stopped; and SIGTERM during a round loses no acknowledged report: the coordinator process
// commits the open round, closes the sockets with 1012, and after a restart on the same data
// directory the acknowledged report is an accepted contribution in the ledger (not aborted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { configFromEnv } from '../coordinator/config.ts';
import { startPlatform, type Platform } from '../coordinator/platform.ts';
import { sampleOf as sample } from '../coordinator/ops/index.ts';
import type { AccountSummary } from '../shared/wire/index.ts';
import { playRound } from './round-player.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import { trainSet, VirtualVolunteer } from './virtual-volunteer.ts';

const RUN = {
  cohortSize: 3,
  inner: { steps: 3 },
  // A round commits once every member reported (or on the drain), never on its timer mid-test: long
  // exchange and report windows. The training window is short, as a round never commits before
  // it ends (coordinator/round/decide.ts commitAt): 60 s here held the metrics test a minute idle.
  timing: { trainMs: 2_000, exchangeMs: 60_000, reportMs: 60_000 },
  rewards: { epochRounds: 1 },
};

const scrape = async (url: string) => (await fetch(new URL('metrics', url))).text();

test(
  '/metrics: sessions, reports by outcome, round phases, commit time, decisions, spot checks, epochs and ledger latency move during a run',
  { timeout: 240_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-ops-metrics-'));
    const env = {
      IDLEGRAD_DATA_DIR: dataDir,
      PORT: '0',
      IDLEGRAD_RUN: JSON.stringify({ ...RUN, minVolunteers: 3, verification: { vestingRounds: 0 } }),
    };
    let platform: Platform | null = null;
    const vs: VirtualVolunteer[] = [];
    try {
      platform = await startPlatform(configFromEnv(env), () => {});
      const before = await scrape(platform.url);
      assert.equal(sample(before, 'idlegrad_sessions'), 0);
      assert.equal(sample(before, 'idlegrad_round_phase{phase="idle"}'), 1);
      const ready = await fetch(new URL('readyz', platform.url));
      assert.equal(ready.status, 200, await ready.clone().text());

      for (let i = 0; i < 3; i++) vs.push(new VirtualVolunteer(platform.url, generatePrivateKey()));
      await Promise.all(vs.map((v) => v.connect()));
      const data = await trainSet(platform.url);
      for (const v of vs) v.send({ type: 'start' });
      const during = await (async () => {
        // The round is open once every volunteer has its `round` message; scrape then.
        await Promise.all(vs.map((v) => v.next('round').then((m) => v.inbox.unshift(m))));
        return scrape(platform!.url);
      })();
      assert.equal(sample(during, 'idlegrad_sessions'), 3);
      assert.equal(sample(during, 'idlegrad_round_phase{phase="open"}'), 1);
      assert.equal(sample(during, 'idlegrad_rounds_total{event="opened"}'), 1);

      const r0 = await playRound(vs, data);
      assert.equal(r0.committed[0].accepted, 3);
      // A report the coordinator refuses: one for the round that just committed (STALE_ROUND).
      const stale = await vs[0].report(
        vs[0].contribution(r0.rounds[0], await vs[0].train(r0.rounds[0], data), { hash: r0.rounds[0].modelHash, frameHashes: [] }),
        [],
      );
      assert.equal(stale.type, 'error');
      await platform.validator.idle();
      for (let i = 0; i < 100 && sample(await scrape(platform.url), 'idlegrad_epoch_posts_total{result="posted"}') === 0; i++)
        await new Promise((r) => setTimeout(r, 100));

      const after = await scrape(platform.url);
      const expect: [string, (v: number) => boolean][] = [
        ['idlegrad_sessions_opened_total', (v) => v === 3],
        ['idlegrad_reports_total{outcome="acked"}', (v) => v === 3],
        [`idlegrad_reports_total{outcome="${(stale as { code: string }).code}"}`, (v) => v === 1],
        ['idlegrad_rounds_total{event="committed"}', (v) => v >= 1],
        ['idlegrad_commit_seconds_count', (v) => v >= 1],
        ['idlegrad_commit_seconds_sum', (v) => v > 0],
        ['idlegrad_contributions_decided_total{outcome="accepted"}', (v) => v === 3],
        ['idlegrad_spot_checks_total{outcome="verified"}', (v) => v === 3],
        ['idlegrad_validator_backlog', (v) => v === 0],
        ['idlegrad_epoch_posts_total{result="posted"}', (v) => v >= 1],
        ['idlegrad_ledger_seconds_count{kind="transaction"}', (v) => v > (sample(before, 'idlegrad_ledger_seconds_count{kind="transaction"}') ?? 0)],
        ['idlegrad_ledger_seconds_count{kind="query"}', (v) => v > (sample(before, 'idlegrad_ledger_seconds_count{kind="query"}') ?? 0)],
      ];
      for (const [series, ok] of expect) assert.ok(ok(sample(after, series) ?? NaN), `${series} = ${sample(after, series)}`);
    } finally {
      for (const v of vs) v.ws?.close();
      await platform?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

const PG_BIN = existsSync('/usr/lib/postgresql')
  ? readdirSync('/usr/lib/postgresql').find((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
  : undefined;

test(
  '/readyz answers 503 naming the ledger when the PostgreSQL server behind it stops',
  { timeout: 180_000, skip: PG_BIN ? false : 'no PostgreSQL binaries (apt-get install postgresql; .ci/run installs them)' },
  async () => {
    const pgDir = mkdtempSync(join(tmpdir(), 'idlegrad-ops-pg-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-ops-readyz-'));
    const pg = (cmd: 'start' | 'stop') => execFileSync('.ci/postgres.sh', [cmd, pgDir], { encoding: 'utf8' }).trim();
    let pgUp = false;
    let platform: Platform | null = null;
    try {
      const databaseUrl = pg('start');
      pgUp = true;
      platform = await startPlatform(configFromEnv({ IDLEGRAD_DATA_DIR: dataDir, PORT: '0', DATABASE_URL: databaseUrl }), () => {});
      const up = await fetch(new URL('readyz', platform.url));
      assert.equal(up.status, 200, await up.clone().text());
      pg('stop');
      pgUp = false;
      const down = await fetch(new URL('readyz', platform.url));
      const body = (await down.json()) as { ready: boolean; failed: string[]; checks: Record<string, { ok: boolean; error?: string }> };
      assert.equal(down.status, 503, JSON.stringify(body));
      assert.equal(body.ready, false);
      assert.deepEqual(body.failed, ['ledger'], 'the chain is still up');
      assert.ok(body.checks.ledger.error, JSON.stringify(body.checks.ledger));
      assert.equal(body.checks.chain.ok, true);
      assert.equal((await fetch(new URL('healthz', platform.url))).status, 200, 'the process itself is up');
      assert.ok(!JSON.stringify(body).includes('postgres://'), 'no database URL in the answer');
    } finally {
      await platform?.stop().catch(() => undefined);
      if (pgUp) pg('stop');
      rmSync(pgDir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

test(
  'SIGTERM during a round: the acknowledged report is committed, sockets close with 1012, and after a restart it is in the ledger',
  { timeout: 300_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-ops-sigterm-'));
    // One identity may carry the round (minContributors 1): this test is about the drain, and only
    // the first of the two seated volunteers reports before the SIGTERM (with the default 2 the
    // commit would refuse its lone report NO_QUORUM: coordinator/round/decide.ts thinBacking).
    const run = { ...RUN, minVolunteers: 2, minContributors: 1, cohortSize: 2, verification: { rate: 0, newIdentityRate: 0 } };
    let p: PlatformProcess | null = null;
    const vs: VirtualVolunteer[] = [];
    try {
      p = await startPlatformProcess(run, { dataDir, quiet: true });
      for (let i = 0; i < 2; i++) vs.push(new VirtualVolunteer(p.url, generatePrivateKey()));
      await Promise.all(vs.map((v) => v.connect()));
      const data = await trainSet(p.url);
      for (const v of vs) v.send({ type: 'start' });
      const rounds = await Promise.all(vs.map((v) => v.next('round')));
      // The first volunteer trains, uploads its own frame (relay mode) and reports; the second is still training.
      const update = await vs[0].train(rounds[0], data);
      const agg = vs[0].aggregate(rounds[0].round, [update.frame]);
      assert.equal((await vs[0].uploadAggregate(rounds[0].round, agg.bytes)).status, 200);
      const ack = await vs[0].report(vs[0].contribution(rounds[0], update, agg), agg.frameHashes);
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      const closes = vs.map((v) => new Promise<number>((r) => v.ws.once('close', (code) => r(code))));

      const port = Number(new URL(p.url).port);
      const child = p.child;
      const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      const committed = await vs[0].next('committed', 60_000);
      assert.equal(committed.round, rounds[0].round, 'the open round committed on the drain');
      assert.equal(committed.accepted, 1);
      assert.deepEqual(await Promise.all(closes), [1012, 1012], 'service restart: the pages reconnect');
      assert.equal(await exit, 0, p.output().slice(-3000));
      assert.match(p.output(), /"component":"shutdown".*"msg":"shutdown: drained in \d+ ms \(round 0 committed\), sockets closed with 1012"/);

      // The same data directory and port: the report is an accepted contribution, not ROUND_ABORTED.
      p = await startPlatformProcess(run, { dataDir, port, quiet: true });
      const summary = (await (await fetch(new URL(`api/accounts/${vs[0].address}`, p.url))).json()) as AccountSummary;
      // Credited: accepted, or already batched into the reward epoch the commit closed (epochRounds 1).
      assert.equal(summary.recent.length, 1, JSON.stringify(summary));
      const [row] = summary.recent;
      assert.equal(row.round, rounds[0].round);
      assert.ok(['accepted', 'batched', 'claimable'].includes(row.state), JSON.stringify(row));
      assert.equal(row.code, null, 'not refused (ROUND_ABORTED would be: the round never committed)');
      assert.ok(BigInt(summary.creditWei) > 0n, summary.creditWei);
      assert.doesNotMatch(p.output(), /ROUND_ABORTED/);
    } finally {
      for (const v of vs) v.ws?.terminate();
      await p?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
