import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextStore, textId } from './texts.ts';

test('texts are stored by sha256, read back verified; bad and unknown ids are named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-texts-'));
  try {
    const store = new TextStore(join(dir, 'texts'));
    const bytes = new TextEncoder().encode('the cat sat on the mat. ');
    const { id } = store.put(bytes);
    assert.equal(id, textId(bytes));
    assert.deepEqual(store.put(bytes), { id, bytes: bytes.length });
    assert.deepEqual(readdirSync(join(dir, 'texts')), [`${id}.txt`], 'one file, no temporary left behind');
    assert.ok(store.has(id));
    assert.deepEqual(store.get(id), bytes);
    assert.equal(store.has('../lead-token'), false);
    assert.throws(() => store.get('../lead-token'), /^Error: text: expected the 64-hex-digit id of an uploaded text/);
    assert.throws(() => store.get('0'.repeat(64), 'run 3 text'), /^Error: run 3 text: no uploaded text has id 0{64}/);
    writeFileSync(join(dir, 'texts', `${id}.txt`), 'changed');
    assert.throws(() => store.get(id), /does not hash to its id/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
