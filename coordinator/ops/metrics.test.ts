import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpsMetrics, sampleOf as sample } from './metrics.ts';
import type { Sql } from '../db/index.ts';

test('every outcome series exists from the first scrape, at 0', async () => {
  const text = await new OpsMetrics().text();
  for (const s of [
    'idlegrad_reports_total{outcome="acked"}',
    'idlegrad_reports_total{outcome="STALE_ROUND"}',
    'idlegrad_contributions_decided_total{outcome="accepted"}',
    'idlegrad_contributions_decided_total{outcome="ROUND_ABORTED"}',
    'idlegrad_spot_checks_total{outcome="WORK_MISMATCH"}',
    'idlegrad_epoch_posts_total{result="failed"}',
    'idlegrad_sessions',
    'idlegrad_validator_backlog',
  ])
    assert.equal(sample(text, s), 0, s);
});

test('counters move where things happen; a commit is timed from committing to idle; a failed commit is not counted', async () => {
  const m = new OpsMetrics();
  m.sessionOpened();
  m.sessionOpened();
  m.sessionClosed();
  m.report('acked');
  m.report('acked');
  m.report('NOT_A_MEMBER');
  m.roundPhase('open', 0);
  m.roundPhase('committing', 1_000);
  m.roundPhase('idle', 1_250);
  m.roundPhase('open', 2_000);
  m.roundPhase('committing', 3_000);
  m.roundPhase('open', 3_100); // the commit threw: the round is still open
  m.decided(3, ['LEFT_OUT', 'NO_QUORUM', 'LEFT_OUT']);
  m.checked('verified');
  m.epochPosted();
  m.epochFailed();
  let backlog = 4;
  m.live = { validatorBacklog: () => backlog, epochPostingFailing: () => true };
  const text = await m.text();
  const expect: [string, number][] = [
    ['idlegrad_sessions', 1],
    ['idlegrad_sessions_opened_total', 2],
    ['idlegrad_reports_total{outcome="acked"}', 2],
    ['idlegrad_reports_total{outcome="NOT_A_MEMBER"}', 1],
    ['idlegrad_rounds_total{event="opened"}', 2],
    ['idlegrad_rounds_total{event="committed"}', 1],
    ['idlegrad_commit_seconds_count', 1],
    ['idlegrad_commit_seconds_sum', 0.25],
    ['idlegrad_round_phase{phase="open"}', 1],
    ['idlegrad_round_phase{phase="committing"}', 0],
    ['idlegrad_contributions_decided_total{outcome="accepted"}', 3],
    ['idlegrad_contributions_decided_total{outcome="LEFT_OUT"}', 2],
    ['idlegrad_spot_checks_total{outcome="verified"}', 1],
    ['idlegrad_epoch_posts_total{result="posted"}', 1],
    ['idlegrad_epoch_posts_total{result="failed"}', 1],
    ['idlegrad_epoch_posting_failing', 1],
    ['idlegrad_validator_backlog', 4],
  ];
  for (const [series, v] of expect) assert.equal(sample(text, series), v, series);
  backlog = 0;
  assert.equal(sample(await m.text(), 'idlegrad_validator_backlog'), 0, 'read at scrape time');
});

test('timedSql times every statement by kind and counts failures', async () => {
  const m = new OpsMetrics();
  const fake: Sql = {
    query: async <T>(text: string) => {
      if (text === 'bad') throw new Error('syntax error');
      return { rows: [] as T[] };
    },
    exec: async () => undefined,
    transaction: async (fn) => fn(fake),
    close: async () => {},
  };
  const sql = m.timedSql(fake);
  await sql.query('select 1');
  await sql.exec('vacuum');
  await sql.transaction((tx) => tx.query('select 2'));
  await assert.rejects(sql.query('bad'), /syntax error/);
  const text = await m.text();
  assert.equal(sample(text, 'idlegrad_ledger_seconds_count{kind="query"}'), 2);
  assert.equal(sample(text, 'idlegrad_ledger_seconds_count{kind="exec"}'), 1);
  assert.equal(sample(text, 'idlegrad_ledger_seconds_count{kind="transaction"}'), 1);
  assert.equal(sample(text, 'idlegrad_ledger_errors_total{kind="query"}'), 1);
});
