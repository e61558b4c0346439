// The cluster's edges without a full platform (e2e/failover.test.ts covers the takeover):
// a database whose leader lock another session holds makes a coordinator a follower, which
// needs a shared chain, and answers plainly while no leader has registered; its /readyz names
// its role and fails while its leader cannot be reached; the leader's lease check sees whether
// its session holds the lock; and a coordinator that loses its database session stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import pg from 'pg';
import WebSocket from 'ws';
import { configFromEnv } from './config.ts';
import { startClusterNode } from './cluster.ts';
import { createTestDatabase } from './db/test-databases.ts';
import { holdsLeaderLock, registerLeader, tryLeaderLock } from './db/index.ts';

const skip = process.env.IDLEGRAD_TEST_DATABASE_URL ? false : 'IDLEGRAD_TEST_DATABASE_URL is not set (start a server with .ci/postgres.sh)';
const LEADER_LOCK = 0x1d1e_0002;

test('a follower needs a shared chain, and says so while no leader is reachable', { timeout: 60_000, skip }, async (t) => {
  const db = await createTestDatabase();
  const leader = new pg.Client({ connectionString: db.url });
  await leader.connect();
  let node: Awaited<ReturnType<typeof startClusterNode>> | null = null;
  t.after(async () => {
    await node?.stop(); // before the database is dropped: a leader that loses its session exits
    await leader.end();
    await db.drop();
  });
  // Another session holds the leader lock, as a running leader's does.
  assert.equal((await leader.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [LEADER_LOCK])).rows[0].ok, true);
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);

  await assert.rejects(
    startClusterNode(configFromEnv({ DATABASE_URL: db.url, PORT: '0' }), log),
    /another coordinator leads this database: a second coordinator needs RPC_URL and DEPLOYER_KEY/,
  );

  node = await startClusterNode(configFromEnv({ DATABASE_URL: db.url, PORT: '0', RPC_URL: 'http://127.0.0.1:1', DEPLOYER_KEY: `0x${'11'.repeat(32)}` }), log);
  assert.equal(node.role(), 'follower');
  assert.ok(
    lines.some((l) => l.startsWith('cluster: following')),
    lines.join('\n'),
  );
  const res = await fetch(new URL('api/run', node.url));
  assert.equal(res.status, 503);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /leading coordinator cannot be reached: no leader has registered yet/);
  const ws = new WebSocket(node.url.replace(/^http/, 'ws') + 'ws');
  await new Promise<void>((resolve) => ws.once('error', () => resolve()).once('close', () => resolve()));
  assert.notEqual(ws.readyState, ws.OPEN, 'no WebSocket session without a leader');

  // /readyz is the follower's own: its role, and whether the leader it relays to answers.
  type Ready = { ready: boolean; role: string; failed: string[]; checks: Record<string, { ok: boolean; error?: string }> };
  const readyz = async () => {
    const r = await fetch(new URL('readyz', node!.url));
    return { status: r.status, body: (await r.json()) as Ready };
  };
  const none = await readyz();
  assert.deepEqual([none.status, none.body.role, none.body.failed], [503, 'follower', ['leader']], JSON.stringify(none.body));
  assert.match(none.body.checks.leader.error!, /no leader has registered yet/);
  assert.equal(none.body.checks.ledger.ok, true);
  // A leader registers (a stand-in that answers /healthz), then goes away.
  const stand = http.createServer((req, res) => void res.writeHead(req.url === '/healthz' ? 200 : 404).end());
  await new Promise<void>((r) => stand.listen(0, '127.0.0.1', r));
  await registerLeader(leader, `http://127.0.0.1:${(stand.address() as { port: number }).port}/`, process.pid);
  const up = await readyz();
  assert.deepEqual([up.status, up.body.role, up.body.failed], [200, 'follower', []], JSON.stringify(up.body));
  assert.equal((await fetch(new URL('healthz', node.url))).status, 200);
  stand.closeAllConnections();
  await new Promise((r) => stand.close(r));
  const unreachable = await readyz();
  assert.deepEqual([unreachable.status, unreachable.body.failed], [503, ['leader']], JSON.stringify(unreachable.body));
});

test("the leader's lease: held by the session that took the lock, by no other, and no longer once released", { timeout: 60_000, skip }, async (t) => {
  const db = await createTestDatabase();
  const [a, b] = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
  await a.connect();
  await b.connect();
  t.after(async () => {
    await a.end();
    await b.end();
    await db.drop();
  });
  assert.equal(await holdsLeaderLock(a), false);
  assert.equal(await tryLeaderLock(a), true);
  assert.deepEqual([await holdsLeaderLock(a), await holdsLeaderLock(b)], [true, false]);
  assert.equal(await tryLeaderLock(b), false);
  await a.query('select pg_advisory_unlock($1)', [LEADER_LOCK]);
  assert.equal(await holdsLeaderLock(a), false, 'released: the lease is lost');
});

test('a coordinator whose PostgreSQL session is cut exits rather than run beside a new leader', { timeout: 60_000, skip }, async (t) => {
  const db = await createTestDatabase();
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  let child: ChildProcess | null = null;
  t.after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await admin.end();
    await db.drop();
  });
  await admin.query('select pg_advisory_lock($1)', [LEADER_LOCK]);
  child = spawn(process.execPath, ['--import', 'tsx', 'coordinator/main.ts'], {
    env: { ...process.env, DATABASE_URL: db.url, PORT: '0', RPC_URL: 'http://127.0.0.1:1', DEPLOYER_KEY: `0x${'11'.repeat(32)}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
  for (const t0 = Date.now(); !out.includes('Volunteer page'); await new Promise((r) => setTimeout(r, 50))) {
    assert.ok(Date.now() - t0 < 30_000 && child.exitCode === null, `the follower did not start:\n${out}`);
  }
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  assert.equal(await exited, 1, out);
  assert.match(out, /cluster: lost the PostgreSQL session that holds or awaits leadership/);
});
