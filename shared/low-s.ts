// Low-s signatures only (EIP-2): for every secp256k1 signature (r, s) there is a second one,
// (r, n − s) with the recovery bit flipped, that recovers the same signer. Accepting both lets
// anyone turn a signed report or delegation into a "different" one without the key; the
// coordinator accepts only s ≤ n/2, which is what viem, ethers and every wallet produce.
import { IdlegradError } from './errors.ts';

/** secp256k1's group order n, halved. */
export const SECP256K1_HALF_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n >> 1n;

/** Throws BAD_SIGNATURE naming `what` when the 65-byte 0x-hex signature's s is above n/2 (or it is not 65 bytes). */
export function assertLowS(signature: string, what: string): void {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature))
    throw new IdlegradError('BAD_SIGNATURE', `${what} signature is malformed`, { details: 'expected 65 bytes as 0x-hex' });
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  if (s > SECP256K1_HALF_N) throw new IdlegradError('BAD_SIGNATURE', `${what} signature has a high s value; only low-s (EIP-2) signatures are accepted`);
}
