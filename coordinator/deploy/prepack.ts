// `npm pack`'s prepack: a package that starts with production dependencies only. It holds the
// web app (built here when dist/web is missing or older than its sources), the compiled reward
// contracts, the compiled coordinator (dist/server, always rebuilt: build-server.mjs), and npm-shrinkwrap.json, a copy of package-lock.json: npm never packs the lockfile
// but does pack a shrinkwrap, so `npm ci --omit=dev` in the unpacked package installs exactly
// the locked versions. postpack removes the copy.
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureWebBuild } from './web-build.ts';

ensureWebBuild('production');
await import('./build-contracts.ts');
execFileSync(process.execPath, [fileURLToPath(new URL('./build-server.mjs', import.meta.url)), '--force'], { stdio: 'inherit' });
copyFileSync(new URL('../../package-lock.json', import.meta.url), new URL('../../npm-shrinkwrap.json', import.meta.url));
