import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureConsole, createLogger, lineLogger, Redactor, REDACTED, splitComponent } from './logger.ts';

/** A logger writing into an array of parsed records. */
function collecting(level: 'info' | 'warn' = 'info', redactor = new Redactor()) {
  const lines: string[] = [];
  const logger = createLogger({ level, redactor, destination: { write: (s: string) => void lines.push(s) } });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('a line holding the lead token, the owner key and a database URL is written redacted', () => {
  const token = 'lt_9f2c4e1d8a7b6c5d4e3f2a1b0c9d8e7f';
  const key = `0x${'ab'.repeat(32)}`;
  const redactor = new Redactor();
  redactor.add(token);
  redactor.add(key);
  const { logger, lines, records } = collecting('info', redactor);
  logger.info(
    {
      leadToken: token,
      cfg: { deployerKey: key, databaseUrl: 'postgres://idle:hunter2@db:5432/ledger' },
      req: { headers: { authorization: `Bearer ${token}` } },
    },
    `lead token ${token}, owner ${key}, ledger postgres://idle:hunter2@db:5432/ledger`,
  );
  logger.error(new Error(`could not connect to postgresql://u:s3cretpw@10.0.0.2/x with ${token}`));
  const text = lines.join('');
  for (const secret of [token, key, 'hunter2', 's3cretpw']) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  const [first, second] = records();
  assert.equal(first.leadToken, REDACTED);
  assert.deepEqual(first.cfg, { deployerKey: REDACTED, databaseUrl: REDACTED });
  assert.equal((first.req as { headers: { authorization: string } }).headers.authorization, REDACTED);
  assert.equal(first.msg, `lead token ${REDACTED}, owner ${REDACTED}, ledger postgres://idle:${REDACTED}@db:5432/ledger`);
  assert.equal(first.level, 'info');
  assert.match(String(first.time), /^\d{4}-\d\d-\d\dT/);
  assert.equal(second.level, 'error');
  assert.equal(second.msg, `could not connect to postgresql://u:${REDACTED}@10.0.0.2/x with ${REDACTED}`);
  assert.match(String((second.err as { stack: string }).stack), /^Error: could not connect to postgresql:\/\/u:\[redacted\]@/);
});

test('short values are not registered as secrets (they would mangle ordinary text)', () => {
  const r = new Redactor();
  r.add('abc');
  r.add('');
  r.add(undefined);
  assert.equal(r.scrub('abc round 3'), 'abc round 3');
});

test('levels: below the configured level nothing is written', () => {
  const { logger, records } = collecting('warn');
  logger.info('quiet');
  logger.warn('loud');
  assert.deepEqual(
    records().map((r) => r.msg),
    ['loud'],
  );
});

test("the coordinator's `component: message` lines become records with a component", () => {
  assert.deepEqual(splitComponent('validator: contribution 3 verified'), { component: 'validator', msg: 'contribution 3 verified' });
  assert.deepEqual(splitComponent('[postgres] idle connection lost: x'), { component: 'postgres', msg: 'idle connection lost: x' });
  assert.deepEqual(splitComponent('round 3 committed: 4 contributions'), { msg: 'round 3 committed: 4 contributions' });
  const { logger, records } = collecting();
  lineLogger(logger, 'warn')('rewards: posting failed');
  assert.deepEqual(
    records().map(({ level, component, msg }) => ({ level, component, msg })),
    [{ level: 'warn', component: 'rewards', msg: 'rewards: posting failed' }],
  );
});

test('console.* is captured as records (an Error keeps its stack under err) and restored', () => {
  const { logger, records } = collecting();
  const original = console.log;
  const restore = captureConsole(logger);
  try {
    console.log('lead: run %d created', 2);
    console.error('[ws]', new Error('socket broke'));
  } finally {
    restore();
  }
  const [a, b] = records();
  assert.deepEqual([a.level, a.component, a.msg], ['info', 'lead', 'lead: run 2 created']);
  assert.deepEqual([b.level, b.component, b.msg], ['error', 'ws', '[ws]']);
  assert.match(String((b.err as { message: string }).message), /socket broke/);
  assert.equal(console.log, original, 'restored');
});
