// The upload thread's wasm keccak must hash every frame as hashFrame does: it decides which
// aggregate a report's signed aggregateHash names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashFrame } from '../../shared/codec.ts';
import { wasmFrameHasher } from './frame-hasher.ts';

test('wasmFrameHasher gives hashFrame’s digest for empty, small, block-sized and 60 KB inputs', async () => {
  const hash = await wasmFrameHasher();
  for (const n of [0, 1, 135, 136, 137, 272, 60_000]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
    assert.equal(hash(bytes), hashFrame(bytes), `${n} bytes`);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => hash(bytes) === hashFrame(bytes)),
    { numRuns: 300 },
  );
});
