// Compiles RewardToken.sol and RewardDistributor.sol with solc-js, fully offline: imports are
// served from node_modules/@openzeppelin/contracts by the import callback. solc-js is slow to
// load (a large wasm/asm.js blob) and to run, so the output is cached on disk under a key that
// covers everything that can change the bytecode.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Abi, Hex } from 'viem';
import { ChainError } from '../../shared/chain/errors.ts';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));

export const CONTRACT_NAMES = ['RewardToken', 'RewardDistributor'] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

export interface CompiledContract {
  abi: Abi;
  /** Creation bytecode, 0x-prefixed. */
  bytecode: Hex;
}

export type CompiledContracts = Record<ContractName, CompiledContract> & {
  /** solc-js package version that produced the output, e.g. "0.8.37". */
  solcVersion: string;
  /** sha256 over sources, compiler versions and settings: the cache key. */
  key: string;
  /** solc warnings (the contracts are expected to compile without any). */
  warnings: string[];
};

export interface CompileOptions {
  /** Directory for the JSON cache; created if missing. */
  cacheDir: string;
  /** Read first, never written: `npm run build`'s output. null: only the cache. Default PREBUILT_CONTRACTS_DIR. */
  prebuiltDir?: string | null;
}

/**
 * Where `npm run build` leaves the compiled contracts (coordinator/deploy/build-contracts.ts),
 * so a built package starts without running solc: compileContracts reads the keyed file here
 * first, then the cache.
 */
export const PREBUILT_CONTRACTS_DIR = path.join(HERE, '..', '..', 'dist', 'contracts');
export const contractsFile = (dir: string, key: string) => path.join(dir, `contracts-${key.slice(0, 16)}.json`);

// Pinned rather than solc's default (which follows the newest hardfork) so that the bytecode
// also runs on an RPC_URL chain that lags behind anvil. Cancun is supported by mainnet and the
// major L2s; nothing here needs a newer opcode.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
} as const;

const OZ_PREFIX = '@openzeppelin/contracts/';
const OZ_ROOT = path.dirname(require.resolve('@openzeppelin/contracts/package.json'));

function packageVersion(pkg: string): string {
  const json = JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string };
  return json.version;
}

/** Serves `@openzeppelin/contracts/...` imports from node_modules; refuses anything else. */
function findImport(importPath: string): { contents: string } | { error: string } {
  if (!importPath.startsWith(OZ_PREFIX) || importPath.includes('..')) {
    return { error: `import "${importPath}" is outside ${OZ_PREFIX} (only OpenZeppelin imports are served offline)` };
  }
  try {
    return { contents: readFileSync(path.join(OZ_ROOT, importPath.slice(OZ_PREFIX.length)), 'utf8') };
  } catch (err) {
    return { error: `cannot read ${importPath}: ${(err as Error).message}` };
  }
}

interface SolcError {
  severity: 'error' | 'warning' | 'info';
  formattedMessage: string;
}
interface SolcOutput {
  errors?: SolcError[];
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
}
interface Solc {
  compile(input: string, callbacks: { import: typeof findImport }): string;
}

/**
 * Loaded lazily: requiring solc costs seconds, and a cache hit never needs it. Emscripten's
 * soljson.js installs a process-wide `unhandledRejection` listener that rethrows; it is removed
 * again so that compiling does not change the coordinator's own error policy.
 */
function loadSolc(): Solc {
  const before = new Set(process.listeners('unhandledRejection'));
  const solc = require('solc') as Solc;
  for (const listener of process.listeners('unhandledRejection')) {
    if (!before.has(listener)) process.off('unhandledRejection', listener);
  }
  return solc;
}

async function readSources(): Promise<Record<string, string>> {
  const sources: Record<string, string> = {};
  for (const name of CONTRACT_NAMES) sources[`${name}.sol`] = await readFile(path.join(HERE, `${name}.sol`), 'utf8');
  return sources;
}

function cacheKey(sources: Record<string, string>, solcVersion: string, ozVersion: string): string {
  // The OpenZeppelin version is part of the key too: its sources are compiled in.
  const material = JSON.stringify({ sources, solcVersion, ozVersion, settings: SETTINGS });
  return createHash('sha256').update(material).digest('hex');
}

function runSolc(sources: Record<string, string>): { contracts: Record<ContractName, CompiledContract>; warnings: string[] } {
  const solc = loadSolc();
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([file, content]) => [file, { content }])),
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport })) as SolcOutput;
  const problems = output.errors ?? [];
  const errors = problems.filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new ChainError('COMPILE_FAILED', `solc reported ${errors.length} error(s) compiling the reward contracts`, {
      details: errors.map((e) => e.formattedMessage).join('\n'),
    });
  }
  const contracts = {} as Record<ContractName, CompiledContract>;
  for (const name of CONTRACT_NAMES) {
    const out = output.contracts?.[`${name}.sol`]?.[name];
    if (!out || !out.evm.bytecode.object) {
      throw new ChainError('COMPILE_FAILED', `solc produced no bytecode for ${name}`);
    }
    contracts[name] = { abi: out.abi, bytecode: `0x${out.evm.bytecode.object}` };
  }
  const warnings = problems.filter((e) => e.severity === 'warning').map((e) => e.formattedMessage);
  return { contracts, warnings };
}

/**
 * Compile both contracts, or return the cached result of an identical earlier compile.
 * The cache file is written atomically (temp file + rename), so parallel starts are safe.
 */
export async function compileContracts(opts: CompileOptions): Promise<CompiledContracts & { fromCache: boolean }> {
  const sources = await readSources();
  const solcVersion = packageVersion('solc');
  const key = cacheKey(sources, solcVersion, packageVersion('@openzeppelin/contracts'));
  const file = contractsFile(opts.cacheDir, key);

  const prebuiltDir = opts.prebuiltDir === undefined ? PREBUILT_CONTRACTS_DIR : opts.prebuiltDir;
  for (const f of [...(prebuiltDir ? [contractsFile(prebuiltDir, key)] : []), file]) {
    try {
      const cached = JSON.parse(await readFile(f, 'utf8')) as CompiledContracts;
      if (cached.key === key) return { ...cached, fromCache: true };
    } catch {
      // Missing or unreadable: the next place, else compile below and overwrite the cache.
    }
  }

  const { contracts, warnings } = runSolc(sources);
  const result: CompiledContracts = { ...contracts, solcVersion, key, warnings };
  await mkdir(opts.cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, JSON.stringify(result));
  await rename(tmp, file);
  return { ...result, fromCache: false };
}
