import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { decryptKeystore, encryptKeystore, KeystoreError, type KeystoreErrorCode, type KeystoreV3 } from './keystore.ts';

// The Web3 Secret Storage Definition's test vectors (passphrase "testpassword").
const VECTOR_KEY = '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d';
const PBKDF2_VECTOR = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
    ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
    kdf: 'pbkdf2',
    kdfparams: { c: 262144, dklen: 32, prf: 'hmac-sha256', salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd' },
    mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};
const SCRYPT_VECTOR = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '83dbcc02d8ccb40e466191a123791e0e' },
    ciphertext: 'd172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c',
    kdf: 'scrypt',
    kdfparams: { dklen: 32, n: 262144, p: 8, r: 1, salt: 'ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19' },
    mac: '2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};

async function rejectsWith(p: Promise<unknown>, code: KeystoreErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KeystoreError, `expected a KeystoreError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.shortMessage, message);
    return true;
  });
}

test("the definition's pbkdf2 test vector decrypts to its key; a wrong passphrase is refused by the MAC", async () => {
  const { privateKey, address } = await decryptKeystore(JSON.stringify(PBKDF2_VECTOR), 'testpassword');
  assert.equal(privateKey, VECTOR_KEY);
  assert.equal(address, privateKeyToAccount(VECTOR_KEY).address);
  await rejectsWith(decryptKeystore(PBKDF2_VECTOR, 'testpassword!'), 'WRONG_PASSPHRASE', /wrong passphrase/);
});

test("the definition's scrypt test vector decrypts to the same key", async () => {
  const { privateKey } = await decryptKeystore(SCRYPT_VECTOR, 'testpassword');
  assert.equal(privateKey, VECTOR_KEY);
});

test('export → import round-trips a fresh key, with its address in the file; every file is salted anew', async () => {
  const key = generatePrivateKey();
  const pass = 'correct horse battery';
  const a = await encryptKeystore(key, pass, { iterations: 1000 });
  const b = await encryptKeystore(key, pass, { iterations: 1000 });
  assert.equal(a.version, 3);
  assert.equal(a.address, privateKeyToAccount(key).address.slice(2).toLowerCase());
  assert.match(a.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a.crypto.kdfparams.salt, b.crypto.kdfparams.salt);
  assert.notEqual(a.crypto.ciphertext, b.crypto.ciphertext);
  const back = await decryptKeystore(JSON.stringify(a), pass);
  assert.equal(back.privateKey, key);
  await rejectsWith(decryptKeystore(JSON.stringify(a), 'correct horse battery '), 'WRONG_PASSPHRASE', /wrong passphrase/);
});

test('export writes the definition: the pbkdf2 vector is reproduced from its own salt and iv', async () => {
  const bytes = [PBKDF2_VECTOR.crypto.kdfparams.salt, PBKDF2_VECTOR.crypto.cipherparams.iv, '00'.repeat(16)].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
  const file = await encryptKeystore(VECTOR_KEY, 'testpassword', { random: () => bytes.shift()! });
  assert.equal(file.crypto.ciphertext, PBKDF2_VECTOR.crypto.ciphertext);
  assert.equal(file.crypto.mac, PBKDF2_VECTOR.crypto.mac);
  assert.deepEqual(file.crypto.kdfparams, PBKDF2_VECTOR.crypto.kdfparams);
});

test('a short passphrase is refused on export', async () => {
  await rejectsWith(encryptKeystore(generatePrivateKey(), 'short'), 'WEAK_PASSPHRASE', /at least 8 characters/);
});

test('malformed and unsupported files get an error that names what is wrong, before any key derivation', async () => {
  const edit = (f: (v: typeof PBKDF2_VECTOR & Record<string, unknown>) => void) => {
    const v = structuredClone(PBKDF2_VECTOR) as typeof PBKDF2_VECTOR & Record<string, unknown>;
    f(v);
    return JSON.stringify(v);
  };
  await rejectsWith(decryptKeystore('{"version": 3, "crypto": ', 'x'), 'MALFORMED', /not JSON/);
  await rejectsWith(decryptKeystore('[1,2]', 'x'), 'MALFORMED', /JSON object/);
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.version = 1)),
      'x',
    ),
    'UNSUPPORTED',
    /version 1/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => delete (v.crypto as Partial<typeof v.crypto>).mac),
      'x',
    ),
    'MALFORMED',
    /crypto\.mac is missing/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.crypto.ciphertext = 'zz')),
      'x',
    ),
    'MALFORMED',
    /crypto\.ciphertext must be 32 bytes of hex/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.crypto.cipherparams.iv = v.crypto.cipherparams.iv.slice(2))),
      'x',
    ),
    'MALFORMED',
    /iv must be 16 bytes/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.crypto.cipher = 'aes-128-cbc')),
      'x',
    ),
    'UNSUPPORTED',
    /cipher "aes-128-cbc"/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.crypto.kdf = 'argon2')),
      'x',
    ),
    'UNSUPPORTED',
    /key derivation "argon2"/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.crypto.kdfparams.prf = 'hmac-sha512')),
      'x',
    ),
    'UNSUPPORTED',
    /prf "hmac-sha512"/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.crypto.kdfparams.c = 1e9)),
      'x',
    ),
    'MALFORMED',
    /kdfparams\.c must be an integer/,
  );
  await rejectsWith(
    decryptKeystore(
      edit((v) => (v.crypto.kdfparams.dklen = 16 as 32)),
      'x',
    ),
    'MALFORMED',
    /dklen must be 32/,
  );
  const scrypt = (f: (p: Record<string, number>) => void) => {
    const v = structuredClone(SCRYPT_VECTOR);
    f(v.crypto.kdfparams as unknown as Record<string, number>);
    return v;
  };
  await rejectsWith(
    decryptKeystore(
      scrypt((p) => (p.n = 1000)),
      'x',
    ),
    'MALFORMED',
    /n must be a power of two/,
  );
  await rejectsWith(
    decryptKeystore(
      scrypt((p) => ((p.n = 2 ** 20), (p.r = 8))),
      'x',
    ),
    'UNSUPPORTED',
    /1024 MiB/,
  );
});

test('a file whose address is not its key is refused', async () => {
  const key = generatePrivateKey();
  const file: KeystoreV3 = await encryptKeystore(key, 'passphrase!', { iterations: 1000 });
  const other = privateKeyToAccount(generatePrivateKey()).address.slice(2);
  await rejectsWith(decryptKeystore({ ...file, address: other }, 'passphrase!'), 'ADDRESS_MISMATCH', /names address/);
});
