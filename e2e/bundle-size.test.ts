// Issue 6 acceptance: embed.js ≤ 10 KiB gzip, the volunteer page's initial JavaScript ≤ 150 KiB
// gzip, and the large optional parts (PeerJS, WalletConnect) out of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
  const initialText = s.initial.map((f) => readFileSync(join('dist/web', f.file), 'utf8')).join('\n');
  assert.doesNotMatch(initialText, /WalletConnect|@walletconnect/i, 'WalletConnect is in the initial bundle');
  assert.doesNotMatch(initialText, /peerjs-client|PeerJS: /i, 'PeerJS is in the initial bundle');
});
