import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Abi } from 'viem';
import { claimAbi, rewardDistributorAbi, rewardTokenAbi } from '../../shared/chain/abi.ts';
import { compileContracts } from './compile.ts';
import { TEST_CACHE_DIR } from './test-support.ts';

// Reduce an ABI item to what defines its interface (solc adds internalType, which viem ignores).
function normalize(abi: Abi | readonly unknown[]): string[] {
  const param = (p: { name?: string; type: string; indexed?: boolean }) => `${p.type}${p.indexed ? ' indexed' : ''} ${p.name ?? ''}`;
  return (abi as Abi)
    .map((item) => {
      const i = item as { type: string; name?: string; stateMutability?: string; inputs?: []; outputs?: []; anonymous?: boolean };
      return [
        i.type,
        i.name ?? '',
        i.stateMutability ?? '',
        `(${(i.inputs ?? []).map(param).join(', ')})`,
        `-> (${(i.outputs ?? []).map(param).join(', ')})`,
        i.anonymous ? 'anonymous' : '',
      ].join(' ');
    })
    .sort();
}

test('abi.ts RewardDistributor ABI equals the solc-compiled ABI exactly', async () => {
  const compiled = await compileContracts({ cacheDir: TEST_CACHE_DIR });
  assert.deepEqual(normalize(rewardDistributorAbi), normalize(compiled.RewardDistributor.abi));
});

test('abi.ts RewardToken and claim fragments are subsets of the compiled ABIs', async () => {
  const compiled = await compileContracts({ cacheDir: TEST_CACHE_DIR });
  const token = new Set(normalize(compiled.RewardToken.abi));
  for (const item of normalize(rewardTokenAbi)) assert.ok(token.has(item), `RewardToken has no ${item}`);
  const distributor = new Set(normalize(compiled.RewardDistributor.abi));
  for (const item of normalize(claimAbi)) assert.ok(distributor.has(item), `RewardDistributor has no ${item}`);
});

test('contracts compile without warnings, and a second compile is served from the cache', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idlegrad-compile-'));
  try {
    // prebuiltDir null: not `npm run build`'s dist/contracts, which would answer first.
    const first = await compileContracts({ cacheDir: dir, prebuiltDir: null });
    assert.equal(first.fromCache, false);
    assert.deepEqual(first.warnings, []);
    assert.match(first.RewardDistributor.bytecode, /^0x[0-9a-f]+$/);
    assert.deepEqual(await readdir(dir), [`contracts-${first.key.slice(0, 16)}.json`]);

    const second = await compileContracts({ cacheDir: dir, prebuiltDir: null });
    assert.equal(second.fromCache, true);
    assert.equal(second.key, first.key);
    assert.equal(second.RewardDistributor.bytecode, first.RewardDistributor.bytecode);
    assert.equal(second.RewardToken.bytecode, first.RewardToken.bytecode);

    // A prebuilt file (npm run build) answers before the cache, and is only read.
    const prebuilt = await mkdtemp(path.join(os.tmpdir(), 'idlegrad-prebuilt-'));
    await rename(path.join(dir, `contracts-${first.key.slice(0, 16)}.json`), path.join(prebuilt, `contracts-${first.key.slice(0, 16)}.json`));
    const third = await compileContracts({ cacheDir: dir, prebuiltDir: prebuilt });
    await rm(prebuilt, { recursive: true, force: true });
    assert.equal(third.fromCache, true);
    assert.equal(third.RewardDistributor.bytecode, first.RewardDistributor.bytecode);
    assert.deepEqual(await readdir(dir), [], 'nothing compiled or written to the cache');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
