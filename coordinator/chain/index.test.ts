import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as chain from './index.ts';

test('the public surface is exactly this list (additions are deliberate)', () => {
  assert.deepEqual(Object.keys(chain).sort(), [
    'ChainError',
    'ClaimError',
    'DEV_ACCOUNT_KEYS',
    'DEV_DEPLOYER_KEY',
    'OWNER_KEY_FILE',
    'PREBUILT_CONTRACTS_DIR',
    'buildRewardTree',
    'claimAbi',
    'claimReward',
    'compileContracts',
    'connectChain',
    'decodeRevert',
    'embeddedOwner',
    'loadRewardTree',
    'ownerAddress',
    'rewardDistributorAbi',
    'rewardLeaf',
    'rewardTokenAbi',
    'startAnvil',
  ]);
});
