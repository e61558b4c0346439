// Issue 6 acceptance: embed.js ≤ 10 KiB gzip, the volunteer page's initial JavaScript ≤ 150 KiB
// gzip, and PeerJS (loaded on the first connection), onnxruntime-web (the dashboard's playground)
// and WalletConnect (its own bundle under wc/, loaded when a volunteer asks) out of it.
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

  // WalletConnect: its provider is in the separate bundle, not in the initial files, and the
  // service worker does not precache it.
  const initialText = s.initial.map((f) => readFileSync(join('dist/web', f.file), 'utf8')).join('\n');
  assert.match(readFileSync('dist/web/wc/walletconnect.js', 'utf8'), /wc@2:ethereum_provider:/, 'dist/web/wc/walletconnect.js does not hold the WalletConnect provider');
  assert.doesNotMatch(initialText, /wc@2:ethereum_provider:|relay\.walletconnect/, 'WalletConnect code is in the initial JS');
  assert.doesNotMatch(readFileSync('dist/web/sw.js', 'utf8'), /url:"wc\//, 'the service worker precaches the WalletConnect bundle');
  // onnxruntime-web: its chunk exists and is not initial.
  const ortChunks = readdirSync('dist/web/assets').filter((f) => f.endsWith('.js') && /ort-wasm|onnxruntime/.test(readFileSync(join('dist/web/assets', f), 'utf8')));
  assert.ok(ortChunks.length > 0, 'no chunk holds onnxruntime-web: the check below would pass for nothing');
  for (const c of ortChunks) assert.ok(!s.initial.some((f) => f.file.endsWith(c)), `onnxruntime-web (${c}) is in the initial JS`);
});
