// Reward epochs (DESIGN.md step 9): every `epochRounds` committed rounds, a cumulative
// Merkle tree of (account, total credit) is built from the ledger and its root is posted,
// with the latest model hash, to the RewardDistributor in one transaction.
import { createPublicClient, http, parseEventLogs, type Address, type Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import { IdlegradError } from '../../shared/errors.ts';
import type { AccountSummary, RewardProof } from '../../shared/wire/index.ts';
import { rewardDistributorAbi as distributorAbi } from '../../shared/chain/abi.ts';
import { type Ledger, accountSummaries } from '../db/index.ts';
import { buildRewardTree, loadRewardTree, type RewardTree, type RewardTreeDump } from '../chain/index.ts';

const epochPostedEvent = distributorAbi.find((x) => x.type === 'event' && x.name === 'EpochPosted') as Extract<
  (typeof distributorAbi)[number],
  { type: 'event'; name: 'EpochPosted' }
>;

export interface ChainPort {
  chainId: number;
  rpcUrl: string;
  distributor: Address;
  token: Address;
  postEpoch(epoch: number, root: Hex, modelHash: Hex): Promise<{ txHash: Hex }>;
  fundGas(account: Address, wei: bigint): Promise<Hex>;
}

/**
 * Points inside posting an epoch where a test may stop or observe the coordinator
 * (e2e/faulty-main.ts, e2e/epoch-crash.test.ts); production passes none.
 */
export interface EpochHooks {
  /** The epoch is recorded in the ledger; no transaction yet. */
  opened?(epoch: number): Promise<void> | void;
  /** The epoch's transaction is mined; the ledger has not recorded it yet. */
  sent?(epoch: number, txHash: Hex): Promise<void> | void;
}

/**
 * One posted epoch's tree, loaded (and validated) once per epoch: a hello, an account push or a
 * proof request then costs a map lookup and one O(log A) proof, where each used to reload and
 * re-validate the whole tree (O(A): 1.8 s at 20 k accounts). Proofs are memoized as asked for.
 */
class EpochProofs {
  private readonly memo = new Map<string, { cumulativeWei: string; proof: Hex[] } | null>();

  constructor(
    readonly epoch: number,
    private readonly tree: RewardTree,
  ) {}

  get root(): Hex {
    return this.tree.root;
  }

  /** The account's leaf with its proof, or undefined when the epoch holds no credit of it. */
  leaf(account: Address): { cumulativeWei: string; proof: Hex[] } | undefined {
    const key = account.toLowerCase();
    if (!this.memo.has(key)) {
      const p = this.tree.proofOf(account);
      this.memo.set(key, p ? { cumulativeWei: p.cumulative.toString(), proof: p.proof } : null);
    }
    return this.memo.get(key) ?? undefined;
  }
}

export class Rewards {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly client;
  /** The latest posted epoch's proofs (see EpochProofs), or its load in flight. */
  private proofs: Promise<EpochProofs | null> = Promise.resolve(null);

  constructor(
    private readonly ledger: Ledger,
    readonly chain: ChainPort,
    private readonly run: RunSpec,
    private readonly onEpoch: (epoch: number) => void,
    private readonly hooks: EpochHooks = {},
  ) {
    this.client = createPublicClient({ transport: http(chain.rpcUrl) });
  }

  /** Called after round `round` committed; epochs are posted one at a time, in order. */
  afterCommit(round: number, modelHash: Hex): Promise<unknown> {
    if ((round + 1) % this.run.rewards.epochRounds !== 0) return Promise.resolve();
    const job = this.queue.then(() => this.postEpoch(round, modelHash));
    this.queue = job.catch((e) => console.error(`[rewards] epoch after round ${round} failed: ${(e as Error).message}`));
    return job;
  }

  async postEpoch(round: number, modelHash: Hex): Promise<number | null> {
    await this.reconcile();
    const { credit, ids } = await this.ledger.epochCredit();
    if (credit.length === 0) return null;
    const tree = buildRewardTree(credit.map((c) => ({ account: c.account, cumulative: c.cumulative })));
    const epoch = (await this.ledger.lastEpoch()) + 1;
    const totalWei = credit.reduce((s, c) => s + c.cumulative, 0n);
    await this.ledger.openEpoch({ epoch, runId: this.run.id, round, root: tree.root, modelHash, totalWei, accounts: credit.length, tree: tree.dump(), ids });
    await this.hooks.opened?.(epoch);
    const { txHash } = await this.chain.postEpoch(epoch, tree.root, modelHash);
    await this.hooks.sent?.(epoch, txHash);
    await this.ledger.epochPosted(epoch, txHash);
    // The tree in hand is the posted epoch's: its proofs need no reload.
    this.proofs = Promise.resolve(new EpochProofs(epoch, tree));
    this.onEpoch(epoch);
    return epoch;
  }

  /**
   * Epochs the ledger opened but never saw posted (the coordinator died between opening an
   * epoch and recording its transaction, or the chain refused it): if the chain holds the
   * epoch with the same root, record that transaction; otherwise post it now. Either way
   * each epoch's root lands on chain exactly once.
   */
  async reconcile(): Promise<number[]> {
    const done: number[] = [];
    for (const e of await this.ledger.unpostedEpochs()) {
      const logs = await this.client.getLogs({
        address: this.chain.distributor,
        event: epochPostedEvent,
        args: { epoch: BigInt(e.epoch) },
        fromBlock: 0n,
      });
      const onChain = logs.at(-1);
      let txHash: Hex;
      if (onChain) {
        if ((onChain.args.root as Hex).toLowerCase() !== e.root.toLowerCase()) {
          throw new IdlegradError('CHAIN_ERROR', `epoch ${e.epoch} is on chain with root ${onChain.args.root}, but the ledger opened it with ${e.root}`);
        }
        txHash = onChain.transactionHash!;
      } else {
        txHash = (await this.chain.postEpoch(e.epoch, e.root, e.modelHash)).txHash;
      }
      await this.ledger.epochPosted(e.epoch, txHash);
      this.onEpoch(e.epoch);
      done.push(e.epoch);
    }
    return done;
  }

  /**
   * The latest posted epoch's proofs: one small query per call, and the tree loaded only when
   * the ledger's latest posted epoch is not the one held (after a restart, or an epoch another
   * process posted). Concurrent callers share one load.
   */
  private async latestProofs(): Promise<EpochProofs | null> {
    const epoch = await this.ledger.latestPostedEpoch();
    if (epoch === null) return null;
    const held = await this.proofs.catch(() => null);
    if (held?.epoch === epoch) return held;
    const load = this.ledger.latestPostedTree().then((latest) => latest && new EpochProofs(latest.epoch, loadRewardTree(latest.tree as RewardTreeDump)));
    this.proofs = load;
    return load;
  }

  /** The account's leaf in the latest posted epoch, claimed or not: what "verify my reward" checks. */
  async rewardProof(account: Address): Promise<RewardProof> {
    const proofs = await this.latestProofs();
    const leaf = proofs?.leaf(account);
    if (!proofs || !leaf) throw new IdlegradError('NOT_FOUND', `${account} has no credit in a posted reward epoch yet`);
    return { epoch: proofs.epoch, root: proofs.root, ...leaf };
  }

  async claimable(account: Address): Promise<AccountSummary['claimable']> {
    const proofs = await this.latestProofs();
    const leaf = proofs?.leaf(account);
    if (!proofs || !leaf || BigInt(leaf.cumulativeWei) <= (await this.ledger.claimedWei(account))) return undefined;
    return { epoch: proofs.epoch, ...leaf };
  }

  async summary(account: Address): Promise<AccountSummary> {
    return { ...(await this.ledger.accountSummary(account)), claimable: await this.claimable(account) };
  }

  /** summary() for many accounts at once: five ledger statements and the epoch's proofs held in memory. */
  async summaries(accounts: Address[]): Promise<Map<Address, AccountSummary>> {
    const base = await accountSummaries(this.ledger.sql, accounts, Math.floor(Date.now() / 1000));
    const proofs = await this.latestProofs();
    const out = new Map<Address, AccountSummary>();
    for (const [account, s] of base) {
      const leaf = proofs?.leaf(account);
      const claimable = proofs && leaf && BigInt(leaf.cumulativeWei) > BigInt(s.claimedWei) ? { epoch: proofs.epoch, ...leaf } : undefined;
      out.set(account, { ...s, claimable });
    }
    return out;
  }

  /** Checks the receipt for the distributor's Claimed event before the ledger says "claimed". */
  async confirmClaim(account: Address, txHash: Hex): Promise<{ cumulativeWei: string }> {
    // A hash the chain has never seen (forged, or from another chain) is refused at once,
    // instead of holding the request for the receipt timeout.
    const known = await this.client.getTransaction({ hash: txHash }).catch(() => null);
    if (!known) throw new IdlegradError('NOT_FOUND', `transaction ${txHash} is not known to the chain`);
    const receipt = await this.client.waitForTransactionReceipt({ hash: txHash, timeout: 30_000 });
    const logs = parseEventLogs({ abi: distributorAbi, logs: receipt.logs, eventName: 'Claimed' }).filter(
      (l) => l.address.toLowerCase() === this.chain.distributor.toLowerCase() && (l.args.account as string).toLowerCase() === account.toLowerCase(),
    );
    if (receipt.status !== 'success' || logs.length === 0)
      throw new IdlegradError('CHAIN_ERROR', `transaction ${txHash} holds no Claimed event for ${account}`);
    const cumulative = logs[0].args.cumulativeAmount as bigint;
    await this.ledger.recordClaim(txHash, account, cumulative, (await this.ledger.latestPostedEpoch()) ?? 0);
    return { cumulativeWei: cumulative.toString() };
  }
}
