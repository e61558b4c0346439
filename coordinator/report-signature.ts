// The report hot path's signer recovery: the EIP-712 Contribution digest with the domain
// separator and type hash computed once, and secp256k1 public-key recovery in
// libsecp256k1 (tiny-secp256k1, WebAssembly) instead of viem's pure-JS curve. It returns
// exactly what viem's recoverTypedDataAddress returns for the same input (the property
// test beside this file checks that on valid, forged and malformed signatures), at about a
// sixth of the cost (`npm run load` figures in README "Reliability").
import { Worker } from 'node:worker_threads';
import { recover } from 'tiny-secp256k1';
import { domainSeparator, hexToBytes, keccak256, type Address, type Hex } from 'viem';
import { contributionTypes, type Contribution, type Eip712Domain } from '../shared/eip712.ts';
import { IdlegradError } from '../shared/errors.ts';

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
    const struct = new Uint8Array(32 * (FIELDS.length + 1));
    const dv = new DataView(struct.buffer);
    struct.set(TYPE_HASH, 0);
    FIELDS.forEach((f, i) => {
      const at = 32 * (i + 1);
      const v = c[f.name];
      if (f.type === 'bytes32') {
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
    const msg = new Uint8Array(66);
    msg.set(this.prefix, 0);
    msg.set(hexToBytes(keccak256(struct)), 34);
    return hexToBytes(keccak256(msg));
  }

  /** The signer's address, lower case. Throws BAD_SIGNATURE when the signature is malformed or recovers nothing. */
  signer(c: Contribution, signature: Hex): Address {
    const job = this.prepare(c, signature);
    let pub: Uint8Array | null;
    try {
      pub = recover(job.digest, job.rs, job.parity, false);
    } catch (cause) {
      throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { cause, details: (cause as Error).message });
    }
    return addressOf(pub);
  }

  /** signer(), with the curve work on a worker thread (RecoveryThread) so the event loop keeps serving. */
  async signerOn(thread: RecoveryThread, c: Contribution, signature: Hex): Promise<Address> {
    const job = this.prepare(c, signature);
    return addressOf(await thread.recover(job.digest, job.rs, job.parity));
  }

  private prepare(c: Contribution, signature: Hex): { digest: Uint8Array; rs: Uint8Array; parity: 0 | 1 } {
    const sig = /^0x[0-9a-fA-F]{130}$/.test(signature) ? hexToBytes(signature) : null;
    if (!sig) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: 'expected 65 bytes as 0x-hex' });
    const v = sig[64];
    const parity = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : null;
    if (parity === null) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: `recovery byte ${v} is not 0, 1, 27 or 28` });
    return { digest: this.digest(c), rs: sig.subarray(0, 64), parity };
  }
}

function addressOf(pub: Uint8Array | null): Address {
  if (!pub) throw new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: 'no public key recovers from it' });
  return `0x${keccak256(pub.subarray(1)).slice(26)}` as Address;
}

/**
 * One worker thread that recovers public keys (coordinator/recover-worker.mjs), answering
 * in order. It does not keep the process alive; stop() ends it.
 */
export class RecoveryThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (pub: Uint8Array | null) => void; reject: (e: unknown) => void }>();
  private next = 0;

  recover(digest: Uint8Array, rs: Uint8Array, parity: 0 | 1): Promise<Uint8Array | null> {
    const w = (this.worker ??= this.start());
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, digest, rs, parity });
    });
  }

  stop(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  private start(): Worker {
    const w = new Worker(new URL('./recover-worker.mjs', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number; pub: Uint8Array | null; error: string | null }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error !== null) p?.reject(new IdlegradError('BAD_SIGNATURE', 'report signature is malformed', { details: m.error }));
      else p?.resolve(m.pub);
    });
    const fail = (e: unknown) => {
      for (const p of this.pending.values()) p.reject(new IdlegradError('INTERNAL', `signature recovery thread stopped: ${String(e)}`));
      this.pending.clear();
      if (this.worker === w) this.worker = null;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(`exit ${code}`));
    return w;
  }
}
