// Issue 19 items 1 and 2: the built package starts with production dependencies only, and runs
// compiled JavaScript. `npm pack` (its prepack builds dist/web, dist/contracts and the compiled
// coordinator dist/server, and adds npm-shrinkwrap.json), unpacked in a temporary directory,
// `npm ci --omit=dev` there (offline, from the npm cache the repository's own install filled):
// no tsx, esbuild or Vite in the installed tree. `npm start` on a free port runs `node` on
// dist/server: the pages and the API answer, and three protocol-level volunteers play a round,
// so the coordinator's worker threads run from their bundles: the ledger (PGlite), signature
// recovery, the cross-cohort combine, the held-out evaluation and the spot checks'
// re-execution, none of them falling back to the event loop. SIGINT stops everything it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { sampleOf } from '../coordinator/ops/index.ts';
import { npmStart } from './npm-start.ts';
import { playRound } from './round-player.ts';
import { trainSet, VirtualVolunteer } from './virtual-volunteer.ts';

test('npm pack → npm ci --omit=dev → npm start serves the app and the API without dev dependencies', { timeout: 8 * 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-package-'));
  const dataDir = join(dir, 'data');
  try {
    execFileSync('npm', ['pack', '--pack-destination', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    assert.ok(!existsSync('npm-shrinkwrap.json'), 'postpack removes the shrinkwrap copy from the checkout');
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, `npm pack wrote no tarball in ${dir}`);
    execFileSync('tar', ['-xzf', join(dir, tarball), '-C', dir]);
    const pkg = join(dir, 'package');
    for (const f of [
      'dist/web/index.html',
      'dist/web/sw.js',
      'dist/server/start.js',
      'dist/server/combine-worker.js',
      'dist/server/eval-worker.js',
      'dist/server/reexec-worker.js',
      'npm-shrinkwrap.json',
      'coordinator/data/mnist-digits.bin.gz',
      'LICENSE',
    ])
      assert.ok(existsSync(join(pkg, f)), `the package holds ${f}`);
    assert.ok(
      readdirSync(join(pkg, 'dist/contracts')).some((f) => f.endsWith('.json')),
      'the package holds the compiled contracts',
    );
    assert.ok(!existsSync(join(pkg, 'e2e')) && !existsSync(join(pkg, 'web/src')), 'tests and page sources stay out of the package');

    execFileSync('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: pkg, stdio: ['ignore', 'ignore', 'inherit'] });
    // (typescript may be there: viem declares it an optional peer, which npm keeps when the lockfile has it.)
    for (const dev of ['tsx', 'esbuild', 'vite', 'svelte', 'playwright-core', 'fast-check'])
      assert.ok(!existsSync(join(pkg, 'node_modules', dev)), `${dev} (a devDependency) was installed`);
    const start = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).scripts.start as string;
    assert.match(start, /^node .*dist\/server\/start\.js$/, 'npm start runs the compiled coordinator with node');

    const started = await npmStart({
      cwd: pkg,
      env: {
        PORT: '0',
        IDLEGRAD_DATA_DIR: dataDir,
        IDLEGRAD_WEB_DIR: '',
        IDLEGRAD_RUN: JSON.stringify({
          cohortSize: 3,
          minVolunteers: 3,
          inner: { steps: 2 },
          // The round commits when every member reported, never on its timer: long exchange and
          // report windows, a short training window (a round never commits before it ends).
          timing: { trainMs: 2_000, exchangeMs: 60_000, reportMs: 60_000 },
          verification: { vestingRounds: 0 },
        }),
      },
      timeoutMs: 120_000,
    });
    const vs: VirtualVolunteer[] = [];
    try {
      const page = await fetch(started.url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<link rel="manifest"/);
      const run = await fetch(new URL('/api/run', started.url));
      assert.equal(run.status, 200);
      assert.equal(((await run.json()) as { run: { id: number } }).run.id, 1);
      assert.equal((await fetch(new URL('/sw.js', started.url))).status, 200);
      assert.doesNotMatch(started.output(), /vite|building|bundles in dist/i, 'the package started without building anything');

      // A round: the combine, evaluation and re-execution threads run from dist/server.
      for (let i = 0; i < 3; i++) vs.push(new VirtualVolunteer(started.url, generatePrivateKey()));
      await Promise.all(vs.map((v) => v.connect()));
      const data = await trainSet(started.url);
      for (const v of vs) v.send({ type: 'start' });
      const r0 = await playRound(vs, data);
      assert.equal(r0.committed[0].accepted, 3);
      let metrics = '';
      for (let i = 0; i < 300 && !(sampleOf(metrics, 'idlegrad_spot_checks_total{outcome="verified"}') === 3); i++) {
        await new Promise((r) => setTimeout(r, 200));
        metrics = await (await fetch(new URL('metrics', started.url))).text();
      }
      assert.equal(sampleOf(metrics, 'idlegrad_spot_checks_total{outcome="verified"}'), 3, 'the re-execution thread checked the three contributions');
      const out = started.output();
      assert.match(out, /spot checks re-execute with/, 'the re-execution thread started');
      assert.doesNotMatch(out, /thread: .*(on the event loop|in place)/, 'a worker thread failed and its work ran on the event loop');
      assert.doesNotMatch(out, /tsx/, 'nothing mentions tsx');
    } finally {
      for (const v of vs) v.ws?.close();
      const { code, left } = await started.interrupt();
      assert.notEqual(code, 'hung', 'npm start did not stop within 30 s of SIGINT');
      assert.deepEqual(left, [], 'processes left running after SIGINT');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
