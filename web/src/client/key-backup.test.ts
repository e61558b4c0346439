import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey } from 'viem/accounts';
import { IdlegradError } from '../../../shared/errors.ts';
import type { AccountSummary } from '../../../shared/wire/index.ts';
import { loadDeviceKey, storeDeviceKey } from './device-key.ts';
import { exportDeviceKey, readKeyBackup } from './key-backup.ts';
import { KeystoreError } from './keystore.ts';
import { MemoryStorage } from './storage.ts';

const noAccount = { account: async () => Promise.reject(new IdlegradError('NOT_FOUND', 'no such account')) };

test("a backup exported from one browser's storage restores the same key into another's", async () => {
  const a = new MemoryStorage();
  const key = await storeDeviceKey(a, generatePrivateKey(), 1);
  const { fileName, text } = await exportDeviceKey(key, 'a long passphrase');
  assert.equal(fileName, `idlegrad-device-key-${key.account.address.toLowerCase()}.json`);
  assert.ok(!text.includes(key.privateKey.slice(2)), 'the file holds the private key in clear');

  const b = new MemoryStorage();
  const fresh = await storeDeviceKey(b, generatePrivateKey(), 2);
  const summary = { address: key.account.address, creditWei: '5' } as AccountSummary;
  const candidate = await readKeyBackup(text, 'a long passphrase', fresh, { account: async () => summary });
  assert.equal(candidate.address, key.account.address);
  assert.equal(candidate.account, summary);
  await storeDeviceKey(b, candidate.privateKey, 3);
  assert.equal((await loadDeviceKey(b))?.account.address, key.account.address);
});

test('reading a backup: a key the platform does not know has no account; the key already in use, or a wrong passphrase, is refused', async () => {
  const key = await storeDeviceKey(new MemoryStorage(), generatePrivateKey(), 1);
  const { text } = await exportDeviceKey(key, 'a long passphrase');
  assert.equal((await readKeyBackup(text, 'a long passphrase', null, noAccount)).account, null);
  await assert.rejects(
    readKeyBackup(text, 'a long passphrase', key, noAccount),
    (e: unknown) => e instanceof KeystoreError && /already uses/.test(e.shortMessage),
  );
  await assert.rejects(readKeyBackup(text, 'another passphrase', null, noAccount), (e: unknown) => e instanceof KeystoreError && e.code === 'WRONG_PASSPHRASE');
  const down = { account: async () => Promise.reject(new IdlegradError('INTERNAL', 'coordinator down')) };
  await assert.rejects(readKeyBackup(text, 'a long passphrase', null, down), /coordinator down/);
});
