// The embedded chain's owner is this data directory's own key (0600), funded at start, never
// a published anvil account; a distributor an older version deployed under anvil's account 0
// is handed to it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicClient, getAddress, http } from 'viem';
import { rewardDistributorAbi } from '../../shared/chain/abi.ts';
import { startAnvil, DEV_ACCOUNT_KEYS, DEV_DEPLOYER_KEY } from './anvil.ts';
import { connectChain } from './chain.ts';
import { TEST_CACHE_DIR } from './test-support.ts';
import { embeddedOwner, ownerAddress, ownerKeyFor, OWNER_KEY_FILE, OWNER_MIN_WEI } from './owner-key.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'idlegrad-owner-'));
  dirs.push(d);
  return d;
};
const anvil = await startAnvil();
after(async () => {
  await anvil.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const client = createPublicClient({ transport: http(anvil.rpcUrl) });

test('a fresh key per data directory, mode 0600, kept across starts, never a dev key', () => {
  const a = tempDir();
  const first = ownerKeyFor(a);
  assert.equal(first.created, true);
  assert.equal(statSync(join(a, OWNER_KEY_FILE)).mode & 0o777, 0o600);
  assert.deepEqual(ownerKeyFor(a), { key: first.key, created: false });
  const b = ownerKeyFor(tempDir());
  assert.notEqual(b.key, first.key);
  for (const k of [first.key, b.key]) assert.ok(!DEV_ACCOUNT_KEYS.some((d) => d.toLowerCase() === k.toLowerCase()));

  const dev = tempDir();
  writeFileSync(join(dev, OWNER_KEY_FILE), DEV_DEPLOYER_KEY, { mode: 0o600 });
  assert.throws(() => ownerKeyFor(dev), /published dev keys/);
  const loose = tempDir();
  writeFileSync(join(loose, OWNER_KEY_FILE), `${first.key}\n`, { mode: 0o644 });
  ownerKeyFor(loose);
  assert.equal(statSync(join(loose, OWNER_KEY_FILE)).mode & 0o777, 0o600, 'a readable key file is closed to others');
  const junk = tempDir();
  writeFileSync(join(junk, OWNER_KEY_FILE), 'not a key');
  assert.throws(() => ownerKeyFor(junk), /expected a 32-byte 0x-hex private key/);
});

test('the owner is funded and deploys; a distributor owned by anvil account 0 is handed over', async () => {
  const dir = tempDir();
  // As an older version did: contracts deployed and owned by anvil's published account 0.
  const old = await connectChain({ rpcUrl: anvil.rpcUrl, deployerKey: DEV_DEPLOYER_KEY, cacheDir: TEST_CACHE_DIR, pollingInterval: 50 });
  const lines: string[] = [];
  const key = await embeddedOwner({ dataDir: dir, rpcUrl: anvil.rpcUrl, addresses: old.addresses, log: (l) => lines.push(l) });
  assert.equal(key, readFileSync(join(dir, OWNER_KEY_FILE), 'utf8').trim());
  const owner = ownerAddress(key);
  assert.ok((await client.getBalance({ address: owner })) >= OWNER_MIN_WEI, 'funded from anvil account 0');
  assert.equal(getAddress(await client.readContract({ address: old.distributor, abi: rewardDistributorAbi, functionName: 'owner' })), owner);
  assert.match(lines.join('\n'), /moved from anvil's published account 0/);
  // The handed-over distributor now attaches under the new key and posts; the dev key cannot.
  const chain = await connectChain({ rpcUrl: anvil.rpcUrl, deployerKey: key, cacheDir: TEST_CACHE_DIR, addresses: old.addresses, pollingInterval: 50 });
  assert.equal(chain.deployedNow, false);
  await chain.postEpoch(1, `0x${'11'.repeat(32)}`, `0x${'22'.repeat(32)}`);
  await assert.rejects(old.postEpoch(2, `0x${'33'.repeat(32)}`, `0x${'22'.repeat(32)}`), /OwnableUnauthorizedAccount/);
  // A second start keeps the key and does not fund or transfer again.
  const before = await client.getBalance({ address: owner });
  assert.equal(await embeddedOwner({ dataDir: dir, rpcUrl: anvil.rpcUrl, addresses: old.addresses }), key);
  assert.equal(await client.getBalance({ address: owner }), before);
});
