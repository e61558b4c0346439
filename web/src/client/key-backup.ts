// Credit that survives a browser (issue 20 item 3): the device key exported as an encrypted
// keystore v3 file (keystore.ts) and imported into another browser, which then signs, and is
// credited, as that key. Import only reads and checks the file; the key replaces this
// browser's after the volunteer confirms (VolunteerClient.replaceDeviceKey). Loaded on demand
// with the backup panel.
import type { Address, Hex } from 'viem';
import { isIdlegradError } from '../../../shared/errors.ts';
import type { AccountSummary } from '../../../shared/wire/index.ts';
import type { CoordinatorApi } from './api.ts';
import type { DeviceKey } from './device-key.ts';
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
