// `npm run build`'s second half: the reward contracts compiled with solc-js into dist/contracts
// (PREBUILT_CONTRACTS_DIR), which a built package's coordinator reads instead of compiling at
// its first start.
import { compileContracts, PREBUILT_CONTRACTS_DIR } from '../chain/index.ts';

const compiled = await compileContracts({ cacheDir: PREBUILT_CONTRACTS_DIR });
if (compiled.warnings.length > 0) console.error(compiled.warnings.join('\n'));
console.error(
  `contracts: solc ${compiled.solcVersion}, key ${compiled.key.slice(0, 16)}${compiled.fromCache ? ' (already built)' : ''} in ${PREBUILT_CONTRACTS_DIR}`,
);
