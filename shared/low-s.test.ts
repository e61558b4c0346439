import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recover } from 'tiny-secp256k1';
import { hashMessage, hexToBytes, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { IdlegradError } from './errors.ts';
import { assertLowS, SECP256K1_HALF_N } from './low-s.ts';

const N = SECP256K1_HALF_N * 2n + 1n;

/** The same signature's high-s twin: (r, n − s), recovery bit flipped. It recovers the same signer. */
function highS(sig: Hex): Hex {
  const s = BigInt(`0x${sig.slice(66, 130)}`);
  const v = parseInt(sig.slice(130), 16);
  return `${sig.slice(0, 66)}${(N - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex;
}

test('a high-s twin recovers the same signer, and only the low-s one is accepted', async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  for (let i = 0; i < 5; i++) {
    const message = `hello ${i}`;
    const sig = await account.signMessage({ message });
    assertLowS(sig, 'hello');
    const twin = highS(sig);
    const pub = (sg: Hex) =>
      Buffer.from(recover(hexToBytes(hashMessage(message)), hexToBytes(sg).subarray(0, 64), (hexToBytes(sg)[64] - 27) as 0 | 1, false)!).toString('hex');
    assert.equal(pub(twin), pub(sig), 'the twin recovers the same public key');
    assert.throws(
      () => assertLowS(twin, 'report'),
      (e) => e instanceof IdlegradError && e.code === 'BAD_SIGNATURE' && /report signature has a high s value/.test(e.shortMessage),
    );
  }
  assert.throws(() => assertLowS('0x1234', 'delegation'), /delegation signature is malformed/);
});

test("n/2 is half of secp256k1's published group order n", () => {
  assert.equal(SECP256K1_HALF_N * 2n + 1n, 115792089237316195423570985008687907852837564279074904382605163141518161494337n);
});
