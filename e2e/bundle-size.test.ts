// Issue 6 acceptance: embed.js ≤ 10 KiB gzip, the volunteer page's initial JavaScript ≤ 150 KiB
// gzip, and PeerJS (loaded on the first connection) out of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureWebBuild } from './platform-process.ts';
import { describeBundle, measureBundle } from './bundle-size.ts';

test('the production build keeps embed.js and the volunteer page\'s initial JavaScript within budget', () => {
  ensureWebBuild();
  const s = measureBundle();
  console.log(describeBundle(s).replace(/^/gm, '# '));
  assert.ok(s.initial.length > 0, 'dist/web/index.html references no script');
  assert.ok(s.embedGzip <= 10 * 1024, `embed.js is ${s.embedGzip} bytes gzip`);
  assert.ok(s.initialGzip <= 150 * 1024, `initial JS is ${s.initialGzip} bytes gzip`);
  // PeerJS lives in its own chunk (the one naming the peerjs client), not among the initial files.
  const peerChunks = readdirSync('dist/web/assets').filter((f) => f.endsWith('.js') && /peerjs-client|PeerJS: /.test(readFileSync(join('dist/web/assets', f), 'utf8')));
  assert.ok(peerChunks.length > 0, 'no chunk holds PeerJS: the check below would pass for nothing');
  for (const c of peerChunks) assert.ok(!s.initial.some((f) => f.file.endsWith(c)), `PeerJS (${c}) is in the initial JS`);
});
