// "Verify my reward": fetch this account's leaf and proof from the coordinator, read the root
// the RewardDistributor holds now, and check the proof here, in the page.
import { createPublicClient, http } from 'viem';
import { rewardDistributorAbi } from '../../../../shared/chain/abi.ts';
import { verifyRewardProof } from '../../../../shared/chain/proof.ts';
import { describeError } from '../errors.ts';
import type { RewardCheck } from '../snapshot.ts';
import type { WalletContext } from './context.ts';

/** How often to ask again while the chain's root and the proof's epoch differ (an epoch being posted). */
const REWARD_CHECK_RETRIES = 6;

export async function verifyReward(ctx: WalletContext): Promise<RewardCheck | null> {
  const { store } = ctx;
  const account = ctx.key.account.address;
  try {
    const chain = await ctx.chain();
    const client = createPublicClient({ transport: http(new URL(chain.rpcUrl, ctx.origin).href) });
    const readRoot = () => client.readContract({ address: chain.distributor, abi: rewardDistributorAbi, functionName: 'merkleRoot' });
    // The coordinator records an epoch as posted just after its transaction mines, so a check
    // that runs while the next epoch is being posted reads the proof of epoch N and the root
    // of N + 1. Such a pair is no verdict: ask again (a few times) until the chain's root
    // is the root the proof names; a proof that does not lead to that root fails below.
    let p = await ctx.api.rewardProof(account);
    let onChainRoot = await readRoot();
    for (let retry = 0; retry < REWARD_CHECK_RETRIES && onChainRoot.toLowerCase() !== p.root.toLowerCase(); retry++) {
      await new Promise((r) => setTimeout(r, 500));
      p = await ctx.api.rewardProof(account);
      onChainRoot = await readRoot();
    }
    const inRoot = verifyRewardProof({ account, cumulative: BigInt(p.cumulativeWei), proof: p.proof, root: onChainRoot });
    const check: RewardCheck = {
      ok: inRoot && onChainRoot.toLowerCase() === p.root.toLowerCase(),
      epoch: p.epoch,
      cumulativeWei: p.cumulativeWei,
      root: onChainRoot,
      checkedAt: ctx.now(),
    };
    store.set({ rewardCheck: check });
    store.log(
      check.ok ? 'info' : 'error',
      check.ok
        ? `verified: your cumulative credit of ${p.cumulativeWei} wei (epoch ${p.epoch}) is in the root on chain ${onChainRoot.slice(0, 10)}…`
        : `verification failed: the proof for epoch ${p.epoch} does not lead to the root on chain ${onChainRoot.slice(0, 10)}…`,
    );
    return check;
  } catch (e) {
    store.log('error', `verify my reward: ${describeError(e)}`);
    return null;
  }
}
