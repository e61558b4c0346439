// `npm run audit` against a live platform (a real coordinator, PGlite ledger, anvil chain,
// virtual volunteers that train and sign like the page): three rounds, one reward epoch each;
// the audit, run as the npm script a third party would run, recomputes every root posted on
// chain from the published files alone, and redoes every committed round's cross-cohort combine
// from its record and the uploaded aggregates (e2e/combine-audit.ts): an honest record matches, a
// forged one is a mismatch naming its round and group, and aggregates no longer served leave the
// round not checked. The same rounds carry signed partner ids: the one the
// lead registered is credited, an unregistered one is not, and its ack says why.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { configFromEnv } from '../coordinator/config.ts';
import { startPlatform, type Platform } from '../coordinator/platform.ts';
import { parseEpochListing } from '../shared/wire/index.ts';
import { trainSet, VirtualVolunteer } from './virtual-volunteer.ts';
import { playRound } from './round-player.ts';
import { auditCombines, type CombineAuditResult } from './combine-audit.ts';

const ROOT = resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-audit-'));
let platform: Platform | null = null;
const vs: VirtualVolunteer[] = [];
after(async () => {
  for (const v of vs) v.close();
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function audit(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'e2e/audit.ts', '--url', url, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

test(
  'npm run audit recomputes every epoch root posted on chain from the published files; only a registered partner is credited',
  { timeout: 240_000 },
  async () => {
    platform = await startPlatform(
      configFromEnv({
        IDLEGRAD_DATA_DIR: dataDir,
        PORT: '0',
        IDLEGRAD_RUN: JSON.stringify({
          minVolunteers: 2,
          cohortSize: 2,
          inner: { steps: 3 },
          timing: { trainMs: 500, exchangeMs: 20_000, reportMs: 20_000 },
          rewards: { epochRounds: 1 },
          verification: { vestingRounds: 0 },
        }),
      }),
      () => {},
    );
    const lead = { authorization: `Bearer ${platform.leadToken}`, 'content-type': 'application/json' };
    const registered = await fetch(new URL('api/lead/partners', platform.url), {
      method: 'POST',
      headers: lead,
      body: JSON.stringify({ id: 'blog', origins: ['https://blog.example'] }),
    });
    assert.equal(registered.status, 201, await registered.text());
    const anonymous = await fetch(new URL('api/lead/partners', platform.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"id":"x","origins":[]}',
    });
    assert.equal(anonymous.status, 401, 'only the lead registers partners');

    for (let i = 0; i < 2; i++) vs.push(new VirtualVolunteer(platform.url, generatePrivateKey()));
    await Promise.all(vs.map((v) => v.connect()));
    const data = await trainSet(platform.url);
    for (const v of vs) v.send({ type: 'start' });
    const partnerOf = ['blog', 'not-registered'];
    const ROUNDS = 3;
    for (let r = 0; r < ROUNDS; r++) {
      const { acks } = await playRound(vs, data, (i) => ({ partner: partnerOf[i] }));
      assert.equal(acks[0].reason, null);
      assert.match(acks[1].reason ?? '', /partner "not-registered" is not registered/);
    }
    const rows = (
      await platform.ledger.sql.query<{ account: string; partner: string | null; signed_partner: string }>(
        `select account, partner, signed_partner from contributions`,
      )
    ).rows;
    assert.equal(rows.length, 2 * ROUNDS);
    for (const row of rows) {
      const i = vs.findIndex((v) => v.address === row.account);
      assert.equal(row.signed_partner, partnerOf[i]);
      assert.equal(row.partner, i === 0 ? 'blog' : null, 'only the registered partner is credited');
    }

    const listed = await (await fetch(new URL('api/lead/partners', platform.url), { headers: lead })).json();
    assert.deepEqual(listed, {
      partners: [{ id: 'blog', origins: ['https://blog.example'] }],
      unregistered: [{ id: 'not-registered', contributions: ROUNDS }],
    });

    // Every round closes an epoch; wait until the last one is posted and published.
    const deadline = Date.now() + 60_000;
    let posted = 0;
    while (Date.now() < deadline) {
      posted = parseEpochListing(await (await fetch(new URL('api/epochs', platform.url))).json(), 'GET /api/epochs').epochs.length;
      if (posted >= ROUNDS) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(posted, ROUNDS, 'one posted epoch per round');

    const r = await audit(platform.url);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { epochs: number; rootsMatched: number; reports: number; mismatches: unknown[]; combines: CombineAuditResult };
    // Every committed round's combine (one cohort: one group) is redone from the uploaded aggregate
    // and matches its record; a round the volunteers no longer play (open since) commits nothing.
    const { combines, ...rewards } = result;
    assert.deepEqual(rewards, { epochs: ROUNDS, rootsMatched: ROUNDS, reports: 2 * ROUNDS, mismatches: [] });
    assert.ok(combines.rounds >= ROUNDS, `${combines.rounds} rounds committed`);
    assert.deepEqual(combines, { rounds: combines.rounds, matched: ROUNDS, mismatches: [], unchecked: [], withoutCombine: combines.rounds - ROUNDS });

    // A combine record that names another output for round 1's group: a mismatch naming the round and group, and exit 1.
    const runId = platform.run.id;
    const { groups } = (await platform.ledger.combineRecord(runId, 1))!;
    const forged = [{ ...groups[0], output: `0x${'ee'.repeat(32)}` }, ...groups.slice(1)];
    await platform.ledger.sql.query(`update round_combines set groups = $1 where run_id = $2 and round = 1`, [JSON.stringify(forged), runId]);
    const tampered = await audit(platform.url);
    assert.equal(tampered.code, 1, tampered.stderr);
    const after = (JSON.parse(tampered.stdout) as { combines: CombineAuditResult }).combines;
    assert.equal(after.matched, ROUNDS - 1);
    assert.deepEqual(
      after.mismatches.map((m) => [m.round, m.level, m.group]),
      [[1, 1, 0]],
    );
    assert.match(after.mismatches[0].detail, new RegExp(`redone output ${groups[0].output} .* recorded 0x(ee){32}`));
    assert.match(tampered.stderr, /round 1 combine level 1 group 0: redone output/);
    assert.match(tampered.stderr, /FAILED: .*the combine of round\(s\) 1 is not what its record says/);

    // Aggregates the coordinator no longer serves: each round is listed as not checked, with the frames it lacked, never as a match.
    const gone = await auditCombines({
      url: platform.url,
      fetch: (u, init) => (String(u).includes('/aggregates/') ? Promise.resolve(new Response('gone', { status: 404 })) : fetch(u, init)),
    });
    assert.equal(gone.matched, 0);
    assert.deepEqual(
      gone.unchecked.map((u) => [u.round, u.missing]),
      await Promise.all(
        Array.from({ length: ROUNDS }, async (_, round) => [round, (await platform!.ledger.combineRecord(runId, round))!.groups.flatMap((g) => g.inputs)]),
      ),
    );
  },
);
