// The coordinator's view of the chain: deploys (or re-attaches to) RewardToken +
// RewardDistributor, posts one root per epoch, and reads what the dashboard shows.
// Nothing here is anvil-specific: any EVM JSON-RPC URL plus a funded deployer key works.

import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  http,
  isAddress,
  isHex,
  maxUint64,
  parseUnits,
  size,
  type Address,
  type Hex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { rewardDistributorAbi, rewardTokenAbi } from '../../shared/chain/abi.ts';
import { compileContracts } from './compile.ts';
import { ChainError, describeRevert } from '../../shared/chain/errors.ts';

/** Where the contracts live; persist this and pass it back as `addresses` on restart. */
export interface ChainAddresses {
  token: Address;
  distributor: Address;
  /** Block of the distributor's deployment: log scans (claimCount) start here. */
  deployBlock: bigint;
}

export interface ChainConfig {
  /** JSON-RPC endpoint: the embedded anvil's URL, or RPC_URL at scale. */
  rpcUrl: string;
  /** Key that deploys, owns the distributor (posts roots) and pays the dev gas faucet. */
  deployerKey: Hex;
  /** Directory for the compiled-contract cache (compile.ts); only read when deploying. */
  cacheDir: string;
  /** Contracts from an earlier start. Omitted, or no code there (e.g. a fresh anvil): deploy. */
  addresses?: ChainAddresses;
  /** IDLE minted to the deployer at deployment. Default 1 000 000 000 IDLE (18 decimals). */
  tokenSupply?: bigint;
  /** How much of the supply the distributor receives at deployment. Default: all of it. */
  distributorFunding?: bigint;
  /** Receipt polling interval. Default 1000 ms (the first check is immediate). */
  pollingInterval?: number;
}

export interface TxResult {
  txHash: Hex;
  blockNumber: bigint;
}

export interface Chain {
  readonly chainId: number;
  readonly token: Address;
  readonly distributor: Address;
  readonly addresses: ChainAddresses;
  /** The deployer/owner account. */
  readonly deployer: Address;
  /** True when connectChain deployed new contracts (persist `addresses`; old claims are gone). */
  readonly deployedNow: boolean;
  /** Publish epoch `epoch`'s reward root and the run's model hash, in one transaction. */
  postEpoch(epoch: bigint | number, root: Hex, modelHash: Hex): Promise<TxResult>;
  currentRoot(): Promise<Hex>;
  latestModelHash(): Promise<Hex>;
  /** The last posted epoch, or undefined before the first. */
  lastEpoch(): Promise<bigint | undefined>;
  epochCount(): Promise<bigint>;
  /** Cumulative amount `account` has claimed so far. */
  claimedOf(account: Address): Promise<bigint>;
  /** IDLE balance (base units) of any account, the distributor included. */
  balanceOf(account: Address): Promise<bigint>;
  /** DEV FAUCET: send `wei` of the native coin from the deployer, so a volunteer can pay gas. */
  fundGas(account: Address, wei: bigint): Promise<TxResult>;
  /** Number of Claimed events since deployment (a full log scan: fine for anvil and small
   *  chains; at scale, count from the ledger or an indexer instead). */
  claimCount(): Promise<number>;
}

const DEFAULT_SUPPLY = parseUnits('1000000000', 18);

function checkAddress(value: string, what: string): Address {
  if (!isAddress(value)) throw new ChainError('INVALID_ARGUMENT', `${what} is not a valid address: ${value}`);
  return getAddress(value);
}

function checkBytes32(value: string, what: string): Hex {
  if (!isHex(value, { strict: true }) || size(value) !== 32) {
    throw new ChainError('INVALID_ARGUMENT', `${what} must be 32 bytes of 0x-hex, got ${value}`);
  }
  return value;
}

function checkEpoch(value: bigint | number): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new ChainError('INVALID_ARGUMENT', `epoch must be an integer, got ${value}`);
  }
  const epoch = BigInt(value);
  if (epoch < 0n || epoch > maxUint64) throw new ChainError('INVALID_ARGUMENT', `epoch must fit uint64, got ${epoch}`);
  return epoch;
}

export async function connectChain(config: ChainConfig): Promise<Chain> {
  const account = privateKeyToAccount(config.deployerKey);
  const transport = http(config.rpcUrl);
  // Ask the node for its chain id rather than configuring it twice; viem then refuses to sign
  // for a different chain should the URL later point elsewhere.
  const chainId = await createPublicClient({ transport }).getChainId();
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  });
  const pollingInterval = config.pollingInterval ?? 1_000;
  const publicClient = createPublicClient({ chain, transport, pollingInterval });
  const walletClient = createWalletClient({ chain, transport, account, pollingInterval });

  // One deployer transaction at a time: viem picks each nonce from the node's pending count,
  // so two concurrent sends from the same key could collide.
  let queue: Promise<unknown> = Promise.resolve();
  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  /** Send, wait, and turn any failure into a ChainError naming the action and the revert. */
  async function transact(what: string, send: () => Promise<Hex>): Promise<TxResult & { contractAddress?: Address }> {
    let txHash: Hex;
    try {
      txHash = await send();
    } catch (cause) {
      throw new ChainError('TX_REVERTED', `${what} failed: ${describeRevert(cause)}`, { cause });
    }
    const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash });
    if (receipt.status !== 'success') {
      throw new ChainError('TX_REVERTED', `${what} was mined but reverted`, { details: `tx ${txHash}` });
    }
    // Receipts give contract addresses in lower case; checksum them like every other address here.
    const contractAddress = receipt.contractAddress ? getAddress(receipt.contractAddress) : undefined;
    return { txHash, blockNumber: receipt.blockNumber, contractAddress };
  }

  async function deploy(): Promise<ChainAddresses> {
    const compiled = await compileContracts({ cacheDir: config.cacheDir });
    const supply = config.tokenSupply ?? DEFAULT_SUPPLY;
    const funding = config.distributorFunding ?? supply;
    if (funding > supply) {
      throw new ChainError('INVALID_ARGUMENT', `distributorFunding (${funding}) exceeds tokenSupply (${supply})`);
    }
    const tokenTx = await transact('deploying RewardToken', () =>
      walletClient.deployContract({ abi: rewardTokenAbi, bytecode: compiled.RewardToken.bytecode, args: [account.address, supply] }),
    );
    const token = tokenTx.contractAddress!;
    const distTx = await transact('deploying RewardDistributor', () =>
      walletClient.deployContract({
        abi: rewardDistributorAbi,
        bytecode: compiled.RewardDistributor.bytecode,
        args: [token, account.address],
      }),
    );
    const distributor = distTx.contractAddress!;
    if (funding > 0n) {
      await transact('funding the distributor', () =>
        walletClient.writeContract({ address: token, abi: rewardTokenAbi, functionName: 'transfer', args: [distributor, funding] }),
      );
    }
    return { token, distributor, deployBlock: distTx.blockNumber };
  }

  /** Re-attach to earlier contracts if they exist and are ours; undefined means "deploy". */
  async function attach(given: ChainAddresses): Promise<ChainAddresses | undefined> {
    const token = checkAddress(given.token, 'addresses.token');
    const distributor = checkAddress(given.distributor, 'addresses.distributor');
    const [tokenCode, distCode] = await Promise.all([publicClient.getCode({ address: token }), publicClient.getCode({ address: distributor })]);
    if (!tokenCode || !distCode) return undefined;
    let wiredToken: Address;
    let owner: Address;
    try {
      [wiredToken, owner] = await Promise.all([
        publicClient.readContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'token' }),
        publicClient.readContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'owner' }),
      ]);
    } catch (cause) {
      throw new ChainError('CONTRACT_MISMATCH', `${distributor} on chain ${chainId} is not a RewardDistributor`, { cause });
    }
    if (getAddress(wiredToken) !== token) {
      throw new ChainError('CONTRACT_MISMATCH', `distributor ${distributor} pays token ${wiredToken}, not the configured ${token}`);
    }
    if (getAddress(owner) !== account.address) {
      throw new ChainError('NOT_OWNER', `distributor ${distributor} is owned by ${owner}, not by the deployer key's ${account.address}`, {
        details: 'configure the owner key, or drop the saved addresses to deploy new contracts',
      });
    }
    return { token, distributor, deployBlock: given.deployBlock };
  }

  const attached = config.addresses ? await serialized(() => attach(config.addresses!)) : undefined;
  const addresses = attached ?? (await serialized(deploy));
  const { token, distributor } = addresses;
  const readDistributor = { address: distributor, abi: rewardDistributorAbi } as const;

  return {
    chainId,
    token,
    distributor,
    addresses,
    deployer: account.address,
    deployedNow: attached === undefined,

    async postEpoch(epoch, root, modelHash) {
      const args = [checkEpoch(epoch), checkBytes32(root, 'root'), checkBytes32(modelHash, 'modelHash')] as const;
      const { txHash, blockNumber } = await serialized(() =>
        transact(`postEpoch(${args[0]})`, async () => {
          // Simulate first: a revert surfaces as a named error (EpochNotIncreasing …) before gas is spent.
          const { request } = await publicClient.simulateContract({ ...readDistributor, functionName: 'postEpoch', args, account });
          return walletClient.writeContract(request);
        }),
      );
      return { txHash, blockNumber };
    },
    currentRoot: () => publicClient.readContract({ ...readDistributor, functionName: 'merkleRoot' }),
    latestModelHash: () => publicClient.readContract({ ...readDistributor, functionName: 'latestModelHash' }),
    async lastEpoch() {
      const [count, last] = await Promise.all([
        publicClient.readContract({ ...readDistributor, functionName: 'epochCount' }),
        publicClient.readContract({ ...readDistributor, functionName: 'lastEpoch' }),
      ]);
      return count === 0n ? undefined : last;
    },
    epochCount: () => publicClient.readContract({ ...readDistributor, functionName: 'epochCount' }),
    async claimedOf(who) {
      return publicClient.readContract({ ...readDistributor, functionName: 'claimed', args: [checkAddress(who, 'account')] });
    },
    async balanceOf(who) {
      return publicClient.readContract({ address: token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [checkAddress(who, 'account')] });
    },
    async fundGas(who, wei) {
      const to = checkAddress(who, 'account');
      if (wei <= 0n) throw new ChainError('INVALID_ARGUMENT', `fundGas amount must be positive, got ${wei}`);
      const { txHash, blockNumber } = await serialized(() => transact(`fundGas(${to}, ${wei})`, () => walletClient.sendTransaction({ to, value: wei })));
      return { txHash, blockNumber };
    },
    async claimCount() {
      const logs = await publicClient.getContractEvents({
        ...readDistributor,
        eventName: 'Claimed',
        fromBlock: addresses.deployBlock,
        toBlock: 'latest',
      });
      return logs.length;
    },
  };
}
