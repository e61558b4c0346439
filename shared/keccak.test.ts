// The fast keccak256 answers exactly as viem's, for bytes and for hex, of any length
// (around the 136-byte rate boundaries too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesToHex, keccak256 as viemKeccak } from 'viem';
import { keccak256, keccak256Bytes, keccak256Parts } from './keccak.ts';

test('keccak256 equals viem keccak256 on bytes and on hex', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.integer({ min: 0, max: 3 }).chain((k) => fc.uint8Array({ minLength: 136 * k, maxLength: 136 * k + 1 })),
      ),
      (bytes) => {
        assert.equal(keccak256(bytes), viemKeccak(bytes));
        assert.equal(keccak256(bytesToHex(bytes)), viemKeccak(bytesToHex(bytes)));
        // a view into a larger buffer hashes only its own bytes
        const big = new Uint8Array(bytes.length + 8);
        big.set(bytes, 4);
        assert.equal(keccak256(big.subarray(4, 4 + bytes.length)), viemKeccak(bytes));
      },
    ),
    { numRuns: 500 },
  );
  assert.equal(keccak256(new Uint8Array()), '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
});

test('keccak256Bytes equals the hex digest; the browser shim (web/src/shims/js-sha3.ts) offers both forms with the same digests', async () => {
  const { default: shim } = await import('../web/src/shims/js-sha3.ts');
  for (const n of [0, 1, 64, 135, 136, 137, 256, 1000]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 255);
    assert.equal(bytesToHex(keccak256Bytes(bytes)), keccak256(bytes));
    assert.equal(`0x${shim.keccak256(bytes)}`, keccak256(bytes));
    assert.equal(bytesToHex(new Uint8Array(shim.keccak256.arrayBuffer(bytes))), keccak256(bytes));
  }
});

test('keccak256Parts is viem keccak256 of the parts concatenated (the inner state digest hashes m ‖ v)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), (parts) => {
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) (all.set(p, at), (at += p.length));
      assert.equal(keccak256Parts(parts), viemKeccak(all));
    }),
  );
});
