// `npm pack`'s prepack: a package that starts with production dependencies only. It holds the
// web app (built here when dist/web is missing or older than its sources), the compiled reward
// contracts, and npm-shrinkwrap.json, a copy of package-lock.json: npm never packs the lockfile
// but does pack a shrinkwrap, so `npm ci --omit=dev` in the unpacked package installs exactly
// the locked versions. postpack removes the copy.
import { copyFileSync } from 'node:fs';
import { ensureWebBuild } from './web-build.ts';

ensureWebBuild('production');
await import('./build-contracts.ts');
copyFileSync(new URL('../../package-lock.json', import.meta.url), new URL('../../npm-shrinkwrap.json', import.meta.url));
