// The embedded chain's distributor owner: a fresh key per data directory, never one of anvil's
// well-known dev accounts (their keys are published, so anyone who reached the chain could post
// a root of their own and take the whole reward budget). The key lives in
// `<dataDir>/owner-key` (mode 0600) and is funded from anvil's account 0 at each start, which
// on the embedded chain holds only the native coin. With RPC_URL the owner key comes from
// configuration alone (DEPLOYER_KEY, coordinator/config.ts); nothing here runs then.
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicClient, createWalletClient, getAddress, http, parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { rewardDistributorAbi } from '../../shared/chain/abi.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { DEV_ACCOUNT_KEYS } from './anvil.ts';
import type { ChainAddresses } from './chain.ts';

export const OWNER_KEY_FILE = 'owner-key';
/** Below this balance the owner is topped up at start… */
export const OWNER_MIN_WEI = parseEther('100');
/** …to this much (anvil's dev accounts start with 10 000 ETH each). */
export const OWNER_FUNDED_WEI = parseEther('1000');

const DEV_KEYS = new Set<string>(DEV_ACCOUNT_KEYS.map((k) => k.toLowerCase()));

/** The data directory's owner key: read from `owner-key`, or created there (0600) on first use. */
export function ownerKeyFor(dataDir: string): { key: Hex; created: boolean } {
  const file = join(dataDir, OWNER_KEY_FILE);
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new IdlegradError('BAD_MESSAGE', `${file}: expected a 32-byte 0x-hex private key`);
    if (DEV_KEYS.has(key.toLowerCase()))
      throw new IdlegradError('FORBIDDEN', `${file} holds one of anvil's published dev keys: delete it to get a fresh owner key`);
    // A key another user of the machine can read is not the owner's alone.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { key: key as Hex, created: false };
  }
  const key = generatePrivateKey();
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, created: true };
}

/**
 * Prepares the embedded chain's owner: the key of `dataDir`, funded from anvil's account 0,
 * and owning the distributor saved in `addresses` if an earlier version deployed it under
 * anvil's account 0 (ownership moves to the fresh key; the published key then owns nothing).
 */
export async function embeddedOwner(opts: { dataDir: string; rpcUrl: string; addresses?: ChainAddresses; log?: (line: string) => void }): Promise<Hex> {
  const { key, created } = ownerKeyFor(opts.dataDir);
  const owner = privateKeyToAccount(key).address;
  const funder = privateKeyToAccount(DEV_ACCOUNT_KEYS[0]);
  const client = createPublicClient({ transport: http(opts.rpcUrl) });
  const chainId = await client.getChainId();
  const chain = {
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [opts.rpcUrl] } },
  } as const;
  const wallet = createWalletClient({ chain, transport: http(opts.rpcUrl), account: funder });
  const balance = await client.getBalance({ address: owner });
  if (balance < OWNER_MIN_WEI) {
    const hash = await wallet.sendTransaction({ to: owner, value: OWNER_FUNDED_WEI - balance });
    await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  }
  if (created) opts.log?.(`chain: a fresh distributor owner key ${owner} was written to ${join(opts.dataDir, OWNER_KEY_FILE)} (mode 0600)`);
  if (opts.addresses && (await client.getCode({ address: opts.addresses.distributor }))) {
    const current = getAddress(await client.readContract({ address: opts.addresses.distributor, abi: rewardDistributorAbi, functionName: 'owner' }));
    if (current === funder.address) {
      const hash = await wallet.writeContract({
        address: opts.addresses.distributor,
        abi: rewardDistributorAbi,
        functionName: 'transferOwnership',
        args: [owner],
      });
      await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      opts.log?.(`chain: distributor ${opts.addresses.distributor} moved from anvil's published account 0 to this data directory's owner ${owner}`);
    }
  }
  return key;
}

/** The address a key signs for (for logs and tests). */
export const ownerAddress = (key: Hex): Address => privateKeyToAccount(key).address;
