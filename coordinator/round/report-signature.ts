// The report hot path's signer recovery: the EIP-712 Contribution digest with the domain
// separator and type hash computed once, keccak-256 from js-sha3 (about 4× faster than the
// pure-JS one viem uses, on this machine), and secp256k1 public-key recovery in
// libsecp256k1 (tiny-secp256k1, WebAssembly) instead of viem's pure-JS curve. It returns
// exactly what viem's recoverTypedDataAddress returns for the same input (the property
// test beside this file checks that on valid, forged and malformed signatures), at about a
// sixth of the cost (`npm run load` figures in README "Reliability"). On the coordinator
// the hashing and the curve work both run on a worker thread (RecoveryThread).
import { Worker } from 'node:worker_threads';
import { recover } from 'tiny-secp256k1';
import { assertLowS } from '../../shared/low-s.ts';
import jsSha3 from 'js-sha3';
import { domainSeparator, hashMessage, hexToBytes, keccak256, type Address, type Hex } from 'viem';
import { contributionTypes, type Contribution, type Eip712Domain } from '../../shared/eip712.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { WorkerCalls } from '../worker-calls.ts';

const FIELDS = contributionTypes.Contribution;
/** keccak256 of EIP-712 encodeType: the struct has no nested types. */
const TYPE_HASH = hexToBytes(keccak256(new TextEncoder().encode(`Contribution(${FIELDS.map((f) => `${f.type} ${f.name}`).join(',')})`)));

/** Recovers the device key that signed Contribution messages under one EIP-712 domain. */
export class ContributionSigners {
  private readonly prefix: Uint8Array;

  constructor(domain: Eip712Domain) {
    const separator = hexToBytes(domainSeparator({ domain }));
    this.prefix = new Uint8Array(34);
    this.prefix.set([0x19, 0x01], 0);
    this.prefix.set(separator, 2);
  }

  /** keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(c)). */
  digest(c: Contribution): Uint8Array {
    return digestOf(this.prefix, structOf(c));
  }

  /** The signer's address, lower case. Throws BAD_SIGNATURE when the signature is malformed or recovers nothing. */
  signer(c: Contribution, signature: Hex): Address {
    const { rs, parity } = splitSignature(signature);
    const digest = this.digest(c);
    let pub: Uint8Array | null;
    try {
      pub = recover(digest, rs, parity, false);
    } catch (cause) {
      throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { cause, details: (cause as Error).message });
    }
    return addressOf(pub);
  }

  /**
   * The address that signed `message` as an EIP-191 personal message (a hello), recovered on the
   * thread: what viem's verifyMessage recovers, at a tenth of its CPU (libsecp256k1 in wasm, not
   * the pure-JS curve: 5,000 hellos cost 22 s of event loop with viem in `npm run load`).
   * Throws BAD_SIGNATURE when the signature is malformed, high-s or recovers nothing.
   */
  static async messageSignerOn(thread: RecoveryThread, message: string, signature: Hex, what: string): Promise<Address> {
    const { rs, parity } = splitSignature(signature, what);
    return thread.signerOf(hexToBytes(hashMessage(message)), rs, parity);
  }

  /**
   * Checks a report signed by a session key (shared/session-key.ts) on the thread: the Ed25519
   * signature over tag ‖ certificate digest ‖ this Contribution's digest. BAD_SIGNATURE when it does not verify.
   */
  async verifySessionOn(thread: RecoveryThread, c: Contribution, key: { publicKey: Uint8Array; digest: Uint8Array }, signature: Hex): Promise<void> {
    const sig = /^0x[0-9a-fA-F]{128}$/.test(signature) ? hexToBytes(signature) : null;
    if (!sig) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: 'expected a 64-byte Ed25519 signature as 0x-hex' });
    const answer = await thread.call({
      prefix: this.prefix,
      struct: structOf(c),
      session: { publicKey: key.publicKey, certDigest: key.digest, signature: sig },
    });
    if (answer.error !== null) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: answer.error });
    if (!answer.valid)
      throw new IdlegradError('BAD_SIGNATURE', "report is not signed by this session's certified key", {
        details: 'the Ed25519 signature does not verify over this contribution and the session certificate',
      });
  }

  /** The address that signed the 32-byte `digest` (an EIP-712 digest computed by the caller), recovered on the thread. */
  static async digestSignerOn(thread: RecoveryThread, digest: Uint8Array, signature: Hex, what: string): Promise<Address> {
    const { rs, parity } = splitSignature(signature, what);
    return thread.signerOf(digest, rs, parity);
  }

  /** signer(), with the hashing and the curve work on a worker thread (RecoveryThread) so the event loop keeps serving. */
  async signerOn(thread: RecoveryThread, c: Contribution, signature: Hex): Promise<Address> {
    const { rs, parity } = splitSignature(signature);
    return thread.signer(this.prefix, structOf(c), rs, parity);
  }
}

const keccak = (b: Uint8Array) => new Uint8Array(jsSha3.keccak256.arrayBuffer(b));

/** keccak256(prefix ‖ keccak256(struct)): prefix is 0x1901 ‖ domainSeparator. */
function digestOf(prefix: Uint8Array, struct: Uint8Array): Uint8Array {
  const msg = new Uint8Array(66);
  msg.set(prefix, 0);
  msg.set(keccak(struct), 34);
  return keccak(msg);
}

/** EIP-712 encodeData of a Contribution, type hash first (its keccak is hashStruct). Checks each field's range. */
function structOf(c: Contribution): Uint8Array {
  const struct = new Uint8Array(32 * (FIELDS.length + 1));
  const dv = new DataView(struct.buffer);
  struct.set(TYPE_HASH, 0);
  FIELDS.forEach((f, i) => {
    const at = 32 * (i + 1);
    const v = c[f.name];
    if (f.type === 'string') {
      // EIP-712 encodes a dynamic string as the keccak256 of its UTF-8 bytes.
      if (typeof v !== 'string') throw new IdlegradError('BAD_MESSAGE', `contribution.${f.name}: expected a string`);
      struct.set(keccak(new TextEncoder().encode(v)), at);
    } else if (f.type === 'bytes32') {
      const b = hexToBytes(v as Hex);
      if (b.length !== 32) throw new IdlegradError('BAD_MESSAGE', `contribution.${f.name}: expected 32 bytes, got ${b.length}`);
      struct.set(b, at);
    } else if (f.type === 'uint32') {
      const n = v as number;
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new IdlegradError('BAD_MESSAGE', `contribution.${f.name}: expected a uint32, got ${n}`);
      dv.setUint32(at + 28, n);
    } else {
      const n = v as bigint;
      if (n < 0n || n >= 1n << 64n) throw new IdlegradError('BAD_MESSAGE', `contribution.${f.name}: expected a uint64, got ${n}`);
      dv.setBigUint64(at + 24, n);
    }
  });
  return struct;
}

function splitSignature(signature: Hex, what = 'report'): { rs: Uint8Array; parity: 0 | 1 } {
  const sig = /^0x[0-9a-fA-F]{130}$/.test(signature) ? hexToBytes(signature) : null;
  if (!sig) throw new IdlegradError('BAD_SIGNATURE', `${what} signature is malformed`, { details: 'expected 65 bytes as 0x-hex' });
  assertLowS(signature, what);
  const v = sig[64];
  const parity = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : null;
  if (parity === null) throw new IdlegradError('BAD_SIGNATURE', `${what} signature is malformed`, { details: `recovery byte ${v} is not 0, 1, 27 or 28` });
  return { rs: sig.subarray(0, 64), parity };
}

function addressOf(pub: Uint8Array | null): Address {
  if (!pub) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: 'no public key recovers from it' });
  return `0x${jsSha3.keccak256(pub.subarray(1)).slice(24)}` as Address;
}

/**
 * One worker thread (coordinator/round/recover-worker.mjs) that hashes a Contribution's EIP-712
 * data to its digest and recovers the signer's address. A thread that stopped is replaced
 * on the next call; stop() ends it.
 */
export class RecoveryThread {
  private calls: WorkerCalls<{ id: number; answers: RecoveryAnswer[] }> | null = null;
  /** Requests made in this turn of the event loop, posted together at its end (one message each way, not one per report). */
  private queued: { request: RecoveryRequest; resolve: (a: RecoveryAnswer) => void; reject: (e: Error) => void }[] = [];

  /** The address that signed keccak256(prefix ‖ keccak256(struct)); BAD_SIGNATURE when none recovers. */
  signer(prefix: Uint8Array, struct: Uint8Array, rs: Uint8Array, parity: 0 | 1): Promise<Address> {
    return this.recover({ prefix, struct, rs, parity });
  }

  /** The address that signed the 32-byte `digest` as it is; BAD_SIGNATURE when none recovers. */
  signerOf(digest: Uint8Array, rs: Uint8Array, parity: 0 | 1): Promise<Address> {
    return this.recover({ digest, rs, parity });
  }

  /** One request, batched with the others of this event-loop turn. */
  call(request: RecoveryRequest): Promise<RecoveryAnswer> {
    return new Promise<RecoveryAnswer>((resolve, reject) => {
      if (this.queued.push({ request, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private async recover(request: RecoveryRequest): Promise<Address> {
    const m = await this.call(request);
    if (m.error !== null) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: m.error });
    if (m.address === null) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: 'no public key recovers from it' });
    return m.address;
  }

  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) return;
    if (!this.calls || this.calls.failed) this.calls = new WorkerCalls(new Worker(new URL('./recover-worker.mjs', import.meta.url)));
    this.calls.call({ batch: batch.map((b) => b.request) }).then(
      ({ answers }) => batch.forEach((b, i) => b.resolve(answers[i])),
      (e: Error) => {
        const stopped = new IdlegradError('INTERNAL', `signature recovery thread stopped: ${e.message}`);
        for (const b of batch) b.reject(stopped);
      },
    );
  }

  stop(): void {
    const stopped = new IdlegradError('INTERNAL', 'signature recovery thread stopped: the thread was stopped');
    for (const b of this.queued.splice(0)) b.reject(stopped);
    void this.calls?.stop();
    this.calls = null;
  }
}

/**
 * One request: recover the signer of an EIP-712 report (prefix and struct, hashed on the thread) or
 * of a digest as it is (a hello, a session certificate); or verify a session key's Ed25519 report signature.
 */
type RecoveryRequest =
  | { prefix: Uint8Array; struct: Uint8Array; rs: Uint8Array; parity: 0 | 1 }
  | { digest: Uint8Array; rs: Uint8Array; parity: 0 | 1 }
  | { prefix: Uint8Array; struct: Uint8Array; session: { publicKey: Uint8Array; certDigest: Uint8Array; signature: Uint8Array } };
type RecoveryAnswer = { address: Address | null; error: string | null; valid?: boolean };
