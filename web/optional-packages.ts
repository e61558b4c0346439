// Packages that `npm install` leaves out, so the install stays lean (package.json's
// `optionalPackages`, name → version range), and what needs them: the WalletConnect bundle of
// the page and the wallet of its test, and TensorFlow.js for the benchmark's comparison column.
// `npm test` (its pretest, coordinator/deploy/install-optional.mjs) and .ci/run install them
// all with `npm install --no-save`; a lead who wants WalletConnect
// installs its provider the same way and rebuilds. (Not optional peer dependencies: npm 11
// answers `npm install --no-save` of a declared optional peer with "up to date" and installs
// nothing.)
import { existsSync } from 'node:fs';

export const OPTIONAL_PACKAGES = {
  walletConnect: ['@walletconnect/ethereum-provider'],
  walletConnectWallet: ['@walletconnect/sign-client'],
  tfjs: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu'],
} as const;

/** The packages of `names` not installed in the repository's node_modules. */
export function missingPackages(names: readonly string[]): string[] {
  return names.filter((name) => !existsSync(new URL(`../node_modules/${name}/package.json`, import.meta.url)));
}

/** Throws, naming the missing packages and the command that installs them, when any of `names` is absent. */
export function requirePackages(names: readonly string[], purpose: string): void {
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  throw new Error(
    `${purpose} needs ${missing.join(', ')}, an optional dependency that \`npm install\` leaves out: ` +
      `npm install --no-save ${missing.join(' ')} (npm test's pretest installs every optional package)`,
  );
}
