// The device key: a secp256k1 account generated in this browser on first consent. It signs
// the hello challenge, cohort handshakes and every contribution; the coordinator credits it.
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import type { Hex } from 'viem';
import type { ClientStorage } from './storage.ts';

export interface DeviceKey {
  account: PrivateKeyAccount;
  /** Kept for signing claims with a wallet client; never leaves the page. */
  privateKey: Hex;
  createdAt: number;
}

/** The stored key, if consent already created one. */
export async function loadDeviceKey(storage: ClientStorage): Promise<DeviceKey | null> {
  const rec = await storage.getKey();
  if (!rec) return null;
  const account = privateKeyToAccount(rec.privateKey);
  if (account.address.toLowerCase() !== rec.address.toLowerCase()) {
    throw new Error(`stored device key does not match its address ${rec.address}; clear this site's data to start over`);
  }
  return { account, privateKey: rec.privateKey, createdAt: rec.createdAt };
}

export async function loadOrCreateDeviceKey(storage: ClientStorage, now = Date.now): Promise<DeviceKey & { created: boolean }> {
  const existing = await loadDeviceKey(storage);
  if (existing) return { ...existing, created: false };
  return { ...(await storeDeviceKey(storage, generatePrivateKey(), now())), created: true };
}

/** Writes `privateKey` as this browser's device key (a new one, or one restored from a backup file), replacing any stored before. */
export async function storeDeviceKey(storage: Pick<ClientStorage, 'putKey'>, privateKey: Hex, createdAt: number): Promise<DeviceKey> {
  const account = privateKeyToAccount(privateKey);
  await storage.putKey({ privateKey, address: account.address, createdAt });
  return { account, privateKey, createdAt };
}
