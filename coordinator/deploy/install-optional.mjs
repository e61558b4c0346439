// `npm test`'s pretest (and .ci/run): installs the packages that `npm install` leaves out
// (package.json `optionalPackages`: WalletConnect for the page's WalletConnect bundle and its
// test wallet, TensorFlow.js for the bench's comparison column) when any is missing, with
// `npm install --no-save`, so the whole suite runs on a fresh clone while a plain install stays
// lean. Nothing happens when they are all there.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('../../', import.meta.url);
const { optionalPackages } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const missing = Object.entries(optionalPackages).filter(([name]) => !existsSync(new URL(`node_modules/${name}/package.json`, root)));
if (missing.length > 0) {
  const specs = missing.map(([name, range]) => `${name}@${range}`);
  process.stderr.write(`installing the optional packages the tests need (npm install --no-save): ${specs.join(' ')}\n`);
  const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', ...specs], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`could not install ${specs.join(' ')} (exit ${r.status}); the WalletConnect and bench tests need them\n`);
    process.exit(r.status ?? 1);
  }
}
