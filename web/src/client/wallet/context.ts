// What every wallet action (bind, claim, verify-reward: one per file) needs from the client.
import type { Address } from 'viem';
import type { ChainInfo } from '../../../../shared/wire/index.ts';
import type { CoordinatorApi } from '../api.ts';
import type { DeviceKey } from '../device-key.ts';
import type { SnapshotStore } from '../snapshot.ts';
import type { ClientStorage } from '../storage.ts';
import type { Eip1193Provider } from './wallets.ts';

export interface WalletContext {
  api: CoordinatorApi;
  store: SnapshotStore;
  /** The page's origin: a relative rpcUrl ('/rpc') resolves against it. */
  origin: string;
  now: () => number;
  key: DeviceKey;
  /** Where the last claim transaction is kept across reloads. */
  storage: Pick<ClientStorage, 'getClaim' | 'putClaim'>;
  /** The platform's chain (one source: the welcome, else GET /api/run once). */
  chain: () => Promise<ChainInfo>;
  /** Reads this device's (and its wallet's) account summary again. */
  refreshAccount: () => Promise<void>;
}

/** The wallet this session bound by a Delegation, and its provider (claims to the wallet go through it). */
export interface BoundWallet {
  wallet: Address;
  provider: Eip1193Provider;
}
