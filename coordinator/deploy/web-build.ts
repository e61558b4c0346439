// The built web app: where each build goes, and building it only when its output is missing
// or older than its sources. Used by `npm start` (coordinator/deploy/start.ts) and the tests'
// platform launcher (e2e/platform-process.ts). Paths are relative to the repository root.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPackages, OPTIONAL_PACKAGES } from '../../web/optional-packages.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where each build goes: the shipped pages, and the browser tests' pages with e2e/page/'s hooks (vite.config.ts). */
export const WEB_DIRS = { production: 'dist/web', e2e: 'dist/web-e2e' } as const;
export type WebBuild = keyof typeof WEB_DIRS;

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/**
 * Whether the web app can be built here: Vite installed and the sources present (a checkout).
 * A built package (`npm ci --omit=dev`) has neither and runs its prebuilt dist/web.
 */
export const canBuildWeb = () => existsSync(join(ROOT, 'node_modules/vite/bin/vite.js')) && existsSync(join(ROOT, 'vite.config.ts'));

/** The text vite.config.ts writes as wc/walletconnect.js when the WalletConnect provider is not installed. */
export const WALLETCONNECT_ABSENT = 'built without WalletConnect';

/**
 * True when `build`'s index.html exists and is newer than every source it is built from, and its
 * WalletConnect bundle matches whether the (optional) provider is installed now.
 */
export function webBuildIsCurrent(build: WebBuild = 'production'): boolean {
  const index = join(ROOT, WEB_DIRS[build], 'index.html');
  const wc = join(ROOT, WEB_DIRS[build], 'wc', 'walletconnect.js');
  if (!existsSync(index) || !existsSync(wc)) return false;
  if (readFileSync(wc, 'utf8').includes(WALLETCONNECT_ABSENT) !== missingPackages(OPTIONAL_PACKAGES.walletConnect).length > 0) return false;
  const sources = Math.max(
    ...['web', 'kernels', 'shared', 'public', ...(build === 'e2e' ? ['e2e/page'] : [])]
      .map((d) => join(ROOT, d))
      .filter(existsSync)
      .map(newest),
    statSync(join(ROOT, 'vite.config.ts')).mtimeMs,
  );
  return statSync(index).mtimeMs >= sources;
}

/** Build the web app when its output is missing or older than its sources (or always, with `force`); returns its directory. */
export function ensureWebBuild(build: WebBuild = 'production', force = false): string {
  const dir = WEB_DIRS[build];
  if (!force && webBuildIsCurrent(build)) return dir;
  const r = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn', ...(build === 'e2e' ? ['--mode', 'e2e'] : [])], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`vite build (${build}) failed`);
  return dir;
}
