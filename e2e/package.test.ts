// Issue 19 item 2: the built package starts with production dependencies only. `npm pack`
// (its prepack builds dist/web and dist/contracts and adds npm-shrinkwrap.json), unpacked in a
// temporary directory, `npm ci --omit=dev` there (offline, from the npm cache the repository's
// own install filled), `npm start` on a free port: the pages and the API answer, and SIGINT
// stops everything it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { npmStart } from './npm-start.ts';

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
    for (const f of ['dist/web/index.html', 'dist/web/sw.js', 'npm-shrinkwrap.json', 'coordinator/data/mnist-digits.bin.gz', 'LICENSE'])
      assert.ok(existsSync(join(pkg, f)), `the package holds ${f}`);
    assert.ok(
      readdirSync(join(pkg, 'dist/contracts')).some((f) => f.endsWith('.json')),
      'the package holds the compiled contracts',
    );
    assert.ok(!existsSync(join(pkg, 'e2e')) && !existsSync(join(pkg, 'web/src')), 'tests and page sources stay out of the package');

    execFileSync('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: pkg, stdio: ['ignore', 'ignore', 'inherit'] });
    // (typescript may be there: viem declares it an optional peer, which npm keeps when the lockfile has it.)
    for (const dev of ['vite', 'svelte', 'playwright-core', 'fast-check'])
      assert.ok(!existsSync(join(pkg, 'node_modules', dev)), `${dev} (a devDependency) was installed`);

    const started = await npmStart({ cwd: pkg, env: { PORT: '0', IDLEGRAD_DATA_DIR: dataDir, IDLEGRAD_WEB_DIR: '' }, timeoutMs: 120_000 });
    try {
      const page = await fetch(started.url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<link rel="manifest"/);
      const run = await fetch(new URL('/api/run', started.url));
      assert.equal(run.status, 200);
      assert.equal(((await run.json()) as { run: { id: number } }).run.id, 1);
      assert.equal((await fetch(new URL('/sw.js', started.url))).status, 200);
      assert.doesNotMatch(started.output(), /vite|building/i, 'the package started without building anything');
    } finally {
      const { code, left } = await started.interrupt();
      assert.notEqual(code, 'hung', 'npm start did not stop within 30 s of SIGINT');
      assert.deepEqual(left, [], 'processes left running after SIGINT');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
