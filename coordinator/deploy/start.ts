// `npm start`: the built web app, then the coordinator (coordinator/main.ts). In a checkout
// with dev dependencies the web app is built first when dist/web is missing or older than its
// sources (and only then); in a production install (`npm ci --omit=dev` of a built package,
// the Docker image) there is no Vite and the prebuilt dist/web is served as it is.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canBuildWeb, ensureWebBuild, WALLETCONNECT_ABSENT, WEB_DIRS } from './web-build.ts';
import { parseCli } from '../../shared/cli.ts';
import { START_CLI } from '../start-cli.ts';

// --help and a refused flag answer before anything is built.
parseCli(START_CLI);

const ROOT = new URL('../../', import.meta.url);
if (!process.env.IDLEGRAD_WEB_DIR) {
  if (canBuildWeb()) ensureWebBuild('production');
  else if (!existsSync(new URL(`${WEB_DIRS.production}/index.html`, ROOT))) {
    console.error(
      `npm start: no built web app in ${join(WEB_DIRS.production, 'index.html')} and no Vite to build it (a production install): ` +
        'build the package first (npm install && npm run build), or install with dev dependencies (npm install)',
    );
    process.exit(1);
  }
}
// A lead who configured WalletConnect on a build without it hears so now, not from a volunteer.
const wc = new URL(`${process.env.IDLEGRAD_WEB_DIR || WEB_DIRS.production}/wc/walletconnect.js`, ROOT);
if (process.env.IDLEGRAD_WALLETCONNECT_PROJECT_ID && existsSync(wc) && readFileSync(wc, 'utf8').includes(WALLETCONNECT_ABSENT))
  console.warn(
    'IDLEGRAD_WALLETCONNECT_PROJECT_ID is set, but this build has no WalletConnect (an optional package): volunteers who ask for it are told to ' +
      'install @walletconnect/ethereum-provider. Install it (npm install --no-save @walletconnect/ethereum-provider) and rebuild (npm run build).',
  );
await import('../main.ts');
