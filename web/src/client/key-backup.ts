// Credit that survives a browser (issue 20 item 3): the device key exported as an encrypted
// keystore v3 file (keystore.ts) and imported into another browser, which then signs, and is
// credited, as that key. Reading a file only decrypts and checks it; the key replaces this
// browser's after the volunteer confirms (KeyBackup.replace). Loaded on demand with the backup
// panel (VolunteerClient.keyBackup).
import type { Address, Hex } from 'viem';
import { isIdlegradError } from '../../../shared/errors.ts';
import type { AccountSummary } from '../../../shared/wire/index.ts';
import type { CoordinatorApi } from './api.ts';
import { storeDeviceKey, type DeviceKey } from './device-key.ts';
import type { SnapshotStore } from './snapshot.ts';
import type { ClientStorage } from './storage.ts';
import { decryptKeystore, encryptKeystore, keystoreFileName, KeystoreError } from './keystore.ts';

/** A backup file's key, read and checked, waiting for the volunteer to confirm the replacement. */
export interface ImportCandidate {
  privateKey: Hex;
  address: Address;
  /** The key's account on this platform (null: the coordinator knows no work of it). */
  account: AccountSummary | null;
}

/** The keystore file for `key`, encrypted with `passphrase`, and the name to save it under. */
export async function exportDeviceKey(key: DeviceKey, passphrase: string): Promise<{ fileName: string; text: string }> {
  const file = await encryptKeystore(key.privateKey, passphrase);
  return { fileName: keystoreFileName(key.account.address), text: JSON.stringify(file, null, 2) };
}

/**
 * Decrypts a backup file and looks up its key's credit. Refuses the key this browser already
 * has (nothing would change). Errors are KeystoreErrors (wrong passphrase, malformed file).
 */
export async function readKeyBackup(
  text: string,
  passphrase: string,
  current: DeviceKey | null,
  api: Pick<CoordinatorApi, 'account'>,
): Promise<ImportCandidate> {
  const { privateKey, address } = await decryptKeystore(text, passphrase);
  if (current && current.account.address.toLowerCase() === address.toLowerCase())
    throw new KeystoreError('ADDRESS_MISMATCH', `this backup holds the key this browser already uses (${address}): nothing to import`);
  let account: AccountSummary | null = null;
  try {
    account = await api.account(address);
  } catch (e) {
    // A key that never contributed here has no account; any other failure is worth saying.
    if (!isIdlegradError(e, 'NOT_FOUND')) throw e;
  }
  return { privateKey, address, account };
}

export interface KeyBackupDeps {
  key: () => DeviceKey | null;
  api: Pick<CoordinatorApi, 'account'>;
  storage: Pick<ClientStorage, 'putKey'>;
  store: SnapshotStore;
  now: () => number;
  /** Stops lending (no round may go on signing with the old key). */
  stop: () => Promise<void>;
  /** Makes `key` the client's: signs the coordinator session out and reads the key's account. */
  adopt: (key: DeviceKey) => Promise<void>;
}

/** The backup panel's actions on this client's device key. */
export class KeyBackup {
  constructor(private readonly d: KeyBackupDeps) {}

  /** The device key as an encrypted keystore v3 file, and the name to save it under. */
  export(passphrase: string): Promise<{ fileName: string; text: string }> {
    const key = this.d.key();
    if (!key) return Promise.reject(new Error('there is no device key yet: opt in first'));
    return exportDeviceKey(key, passphrase);
  }

  /** Reads and checks a backup file (its key, and that key's credit here); nothing changes until replace(). */
  read(text: string, passphrase: string): Promise<ImportCandidate> {
    return readKeyBackup(text, passphrase, this.d.key(), this.d.api);
  }

  /**
   * Makes `candidate`'s key this browser's device key, once the volunteer confirmed: stops
   * lending, stores the key, and signs in again as it. Refused while signed reports of the
   * current key wait in the outbox (the coordinator takes a report only from its signer's session).
   */
  async replace(candidate: Pick<ImportCandidate, 'privateKey'>): Promise<void> {
    const { store } = this.d;
    const waiting = store.get().outbox;
    if (waiting > 0)
      throw new Error(`${waiting} signed report(s) of the current key wait to be delivered: connect and let them go first, or their credit is lost`);
    await this.d.stop();
    const old = this.d.key()?.account.address ?? null;
    const key = await storeDeviceKey(this.d.storage, candidate.privateKey, this.d.now());
    store.set({
      address: key.account.address,
      account: null,
      rewardCheck: null,
      claim: { busy: false, txHashes: [], pending: null },
      wallets: { ...store.get().wallets, account: null, message: null },
    });
    store.log('info', `device key replaced from a backup: this browser now signs as ${key.account.address}${old ? ` (was ${old})` : ''}`);
    await this.d.adopt(key);
  }
}
