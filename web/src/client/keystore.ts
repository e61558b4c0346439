// The device key as an encrypted backup file: the Web3 Secret Storage Definition, version 3
// (the "keystore v3" JSON that geth, MetaMask, ethers and viem-based tools read and write).
//
//   derived key dk (32 bytes) = KDF(passphrase, salt)          pbkdf2-hmac-sha256, or scrypt
//   ciphertext                = AES-128-CTR(key = dk[0:16], iv, privateKey)
//   mac                       = keccak256(dk[16:32] ‖ ciphertext)
//
// Export writes pbkdf2 (WebCrypto does it natively); import reads pbkdf2 and scrypt (the
// format geth and MetaMask write; @noble/hashes, loaded only for such a file). A MAC that
// does not match means the passphrase is wrong (or the file was altered): nothing is
// decrypted then. This module is loaded on demand (the backup panel), never in the page's
// initial JavaScript.
import { bytesToHex, hexToBytes, keccak256, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { BaseError } from '../../../shared/errors.ts';

export type KeystoreErrorCode = 'MALFORMED' | 'UNSUPPORTED' | 'WRONG_PASSPHRASE' | 'ADDRESS_MISMATCH' | 'WEAK_PASSPHRASE';

export class KeystoreError extends BaseError<KeystoreErrorCode> {
  override name = 'KeystoreError';
}

export interface Pbkdf2Params {
  c: number;
  dklen: 32;
  prf: 'hmac-sha256';
  salt: string;
}
export interface ScryptParams {
  n: number;
  r: number;
  p: number;
  dklen: 32;
  salt: string;
}

/** A keystore v3 file. Hex fields carry no 0x prefix, as the definition writes them. */
export interface KeystoreV3 {
  version: 3;
  id: string;
  /** The key's address, lowercase hex without 0x (optional in the definition; we always write it). */
  address?: string;
  crypto: {
    cipher: 'aes-128-ctr';
    cipherparams: { iv: string };
    ciphertext: string;
    mac: string;
  } & ({ kdf: 'pbkdf2'; kdfparams: Pbkdf2Params } | { kdf: 'scrypt'; kdfparams: ScryptParams });
}

/** PBKDF2 iterations written on export: the definition's own test vector's count. */
export const EXPORT_ITERATIONS = 262_144;
/** Shortest passphrase accepted for an export (a backup file may be copied anywhere). */
export const MIN_PASSPHRASE = 8;
/**
 * What an imported file may ask of this page: a KDF beyond these would freeze the tab (a
 * hostile or corrupted file). Geth's "standard" scrypt (n 2^18, r 8, p 1) takes 256 MiB.
 */
export const KDF_LIMITS = { maxPbkdf2Iterations: 10_000_000, maxScryptMemoryBytes: 256 * 1024 * 1024, maxScryptP: 16 };

const subtle = () => globalThis.crypto.subtle;
const utf8 = (s: string) => new TextEncoder().encode(s.normalize('NFKD'));
const unhex = (s: string) => hexToBytes(`0x${s}` as Hex);
const plainHex = (b: Uint8Array) => bytesToHex(b).slice(2);

async function pbkdf2(passphrase: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const base = await subtle().importKey('raw', utf8(passphrase), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(salt), iterations }, base, 256));
}

async function aes128ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle().importKey('raw', new Uint8Array(key), 'AES-CTR', false, ['encrypt']);
  // The whole 16-byte IV is the counter block (length 128: the counter may carry into every bit).
  return new Uint8Array(await subtle().encrypt({ name: 'AES-CTR', counter: new Uint8Array(iv), length: 128 }, k, new Uint8Array(data)));
}

const macOf = (dk: Uint8Array, ciphertext: Uint8Array): Hex => keccak256(new Uint8Array([...dk.subarray(16, 32), ...ciphertext]));

export interface EncryptOptions {
  /** PBKDF2 iterations. Default EXPORT_ITERATIONS. */
  iterations?: number;
  /** Randomness (salt 32 bytes, iv 16, id 16). Default crypto.getRandomValues. */
  random?: (bytes: number) => Uint8Array;
}

/** Encrypts a private key into a keystore v3 file (pbkdf2-hmac-sha256, aes-128-ctr). */
export async function encryptKeystore(privateKey: Hex, passphrase: string, o: EncryptOptions = {}): Promise<KeystoreV3> {
  if (passphrase.length < MIN_PASSPHRASE)
    throw new KeystoreError('WEAK_PASSPHRASE', `choose a passphrase of at least ${MIN_PASSPHRASE} characters: the file can be copied anywhere`);
  const random = o.random ?? ((n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
  const iterations = o.iterations ?? EXPORT_ITERATIONS;
  const salt = random(32);
  const iv = random(16);
  const dk = await pbkdf2(passphrase, salt, iterations);
  const ciphertext = await aes128ctr(dk.subarray(0, 16), iv, hexToBytes(privateKey));
  return {
    version: 3,
    id: uuidV4(random(16)),
    address: privateKeyToAccount(privateKey).address.slice(2).toLowerCase(),
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: plainHex(iv) },
      ciphertext: plainHex(ciphertext),
      kdf: 'pbkdf2',
      kdfparams: { c: iterations, dklen: 32, prf: 'hmac-sha256', salt: plainHex(salt) },
      mac: macOf(dk, ciphertext).slice(2),
    },
  };
}

function uuidV4(b: Uint8Array): string {
  const x = Uint8Array.from(b);
  x[6] = (x[6] & 0x0f) | 0x40;
  x[8] = (x[8] & 0x3f) | 0x80;
  const h = plainHex(x);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- reading a file ------------------------------------------------------------------

const malformed = (what: string, got?: unknown) =>
  new KeystoreError(
    'MALFORMED',
    `this is not a readable keystore file: ${what}`,
    got === undefined ? {} : { details: `got ${JSON.stringify(got)?.slice(0, 80)}` },
  );

function field(o: Record<string, unknown>, key: string, path: string): unknown {
  if (!(key in o)) throw malformed(`${path}${key} is missing`);
  return o[key];
}

/** Hex of `min` to `max` bytes (`max` defaults to `min`), with or without 0x. */
function hexField(o: Record<string, unknown>, key: string, path: string, min: number, max = min): Uint8Array {
  const v = field(o, key, path);
  const s = typeof v === 'string' ? v.replace(/^0x/, '') : null;
  if (s === null || !/^([0-9a-fA-F]{2})*$/.test(s) || s.length < min * 2 || s.length > max * 2)
    throw malformed(`${path}${key} must be ${min === max ? min : `${min} to ${max}`} bytes of hex`, v);
  return unhex(s);
}

function intField(o: Record<string, unknown>, key: string, path: string, min: number, max: number): number {
  const v = field(o, key, path);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw malformed(`${path}${key} must be an integer in [${min}, ${max}]`, v);
  return v;
}

function objField(o: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const v = field(o, key, path);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed(`${path}${key} must be an object`, v);
  return v as Record<string, unknown>;
}

type Kdf = (passphrase: string) => Promise<Uint8Array>;

/** Reads and checks every field the decryption uses; returns the KDF to run (nothing runs yet). */
function readFile(file: unknown): { kdf: Kdf; iv: Uint8Array; ciphertext: Uint8Array; mac: Uint8Array; address: string | null } {
  if (typeof file !== 'object' || file === null || Array.isArray(file)) throw malformed('the file does not hold a JSON object');
  const root = file as Record<string, unknown>;
  if (root.version !== 3) throw new KeystoreError('UNSUPPORTED', `keystore version ${JSON.stringify(root.version)} is not supported (only version 3)`);
  // geth once wrote "Crypto".
  const c = objField(root, 'crypto' in root ? 'crypto' : 'Crypto', '');
  const cipher = field(c, 'cipher', 'crypto.');
  if (cipher !== 'aes-128-ctr') throw new KeystoreError('UNSUPPORTED', `cipher ${JSON.stringify(cipher)} is not supported (only aes-128-ctr)`);
  const iv = hexField(objField(c, 'cipherparams', 'crypto.'), 'iv', 'crypto.cipherparams.', 16);
  const ciphertext = hexField(c, 'ciphertext', 'crypto.', 32);
  const mac = hexField(c, 'mac', 'crypto.', 32);
  const p = objField(c, 'kdfparams', 'crypto.');
  const path = 'crypto.kdfparams.';
  if (p.dklen !== 32) throw malformed(`${path}dklen must be 32`, p.dklen);
  const salt = hexField(p, 'salt', path, 16, 64);
  const kdfName = field(c, 'kdf', 'crypto.');
  let kdf: Kdf;
  if (kdfName === 'pbkdf2') {
    if (p.prf !== 'hmac-sha256') throw new KeystoreError('UNSUPPORTED', `pbkdf2 with prf ${JSON.stringify(p.prf)} is not supported (only hmac-sha256)`);
    const iterations = intField(p, 'c', path, 1, KDF_LIMITS.maxPbkdf2Iterations);
    kdf = (pass) => pbkdf2(pass, salt, iterations);
  } else if (kdfName === 'scrypt') {
    const n = intField(p, 'n', path, 2, 2 ** 24);
    if ((n & (n - 1)) !== 0) throw malformed(`${path}n must be a power of two`, n);
    const r = intField(p, 'r', path, 1, 64);
    const par = intField(p, 'p', path, 1, KDF_LIMITS.maxScryptP);
    if (128 * r * n > KDF_LIMITS.maxScryptMemoryBytes)
      throw new KeystoreError('UNSUPPORTED', `scrypt n=${n}, r=${r} needs ${(128 * r * n) / 2 ** 20} MiB, more than this page allows`);
    kdf = async (pass) => {
      const { scryptAsync } = await import('@noble/hashes/scrypt');
      return scryptAsync(utf8(pass), salt, { N: n, r, p: par, dkLen: 32, maxmem: KDF_LIMITS.maxScryptMemoryBytes + 1024 * 1024 });
    };
  } else {
    throw new KeystoreError('UNSUPPORTED', `key derivation ${JSON.stringify(kdfName)} is not supported (pbkdf2 or scrypt)`);
  }
  let address: string | null = null;
  if (root.address !== undefined) {
    if (typeof root.address !== 'string' || !/^(0x)?[0-9a-fA-F]{40}$/.test(root.address)) throw malformed('address must be 20 bytes of hex', root.address);
    address = root.address.replace(/^0x/, '').toLowerCase();
  }
  return { kdf, iv, ciphertext, mac, address };
}

/**
 * Decrypts a keystore v3 file (its text, or the parsed JSON) with the passphrase. Throws a
 * KeystoreError: MALFORMED (names the field), UNSUPPORTED (cipher, KDF or its cost),
 * WRONG_PASSPHRASE (the MAC does not match), ADDRESS_MISMATCH (the key is not the file's address).
 */
export async function decryptKeystore(file: string | unknown, passphrase: string): Promise<{ privateKey: Hex; address: Address }> {
  let json = file;
  if (typeof file === 'string') {
    try {
      json = JSON.parse(file);
    } catch (e) {
      throw malformed(`it is not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const f = readFile(json);
  const dk = await f.kdf(passphrase);
  if (macOf(dk, f.ciphertext).slice(2) !== plainHex(f.mac))
    throw new KeystoreError('WRONG_PASSPHRASE', 'wrong passphrase: the file does not open with it (or the file was altered)');
  const privateKey = bytesToHex(await aes128ctr(dk.subarray(0, 16), f.iv, f.ciphertext));
  let address: Address;
  try {
    address = privateKeyToAccount(privateKey).address;
  } catch (e) {
    throw new KeystoreError('MALFORMED', 'the file decrypts to no valid secp256k1 private key', { cause: e });
  }
  if (f.address && f.address !== address.slice(2).toLowerCase())
    throw new KeystoreError('ADDRESS_MISMATCH', `the file names address 0x${f.address}, but its key is ${address}`);
  return { privateKey, address };
}

/** The file name a backup is saved under: what it holds and whose it is. */
export const keystoreFileName = (address: Address) => `idlegrad-device-key-${address.toLowerCase()}.json`;
