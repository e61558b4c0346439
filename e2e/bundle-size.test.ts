// Issue 6 acceptance: embed.js ≤ 10 KiB gzip, the volunteer page's initial JavaScript ≤ 150 KiB
// gzip, and PeerJS (loaded on the first connection), onnxruntime-web (the dashboard's playground)
// and WalletConnect (its own bundle under wc/, loaded when a volunteer asks) out of it.
// Issue 13: no test hook, attack code or fault switch in what is shipped (only in the e2e build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureWebBuild, WEB_DIRS } from './platform-process.ts';
import { describeBundle, measureBundle } from './bundle-size.ts';
import { OPTIONAL_PACKAGES, requirePackages } from '../web/optional-packages.ts';

test("the production build keeps embed.js and the volunteer page's initial JavaScript within budget", () => {
  ensureWebBuild('production');
  const s = measureBundle();
  console.log(describeBundle(s).replace(/^/gm, '# '));
  assert.ok(s.initial.length > 0, 'dist/web/index.html references no script');
  assert.ok(s.embedGzip <= 10 * 1024, `embed.js is ${s.embedGzip} bytes gzip`);
  assert.ok(s.initialGzip <= 150 * 1024, `initial JS is ${s.initialGzip} bytes gzip`);
  // PeerJS lives in its own chunk (the one naming the peerjs client), not among the initial files.
  const peerChunks = readdirSync('dist/web/assets').filter(
    (f) => f.endsWith('.js') && /peerjs-client|PeerJS: /.test(readFileSync(join('dist/web/assets', f), 'utf8')),
  );
  assert.ok(peerChunks.length > 0, 'no chunk holds PeerJS: the check below would pass for nothing');
  for (const c of peerChunks) assert.ok(!s.initial.some((f) => f.file.endsWith(c)), `PeerJS (${c}) is in the initial JS`);

  // WalletConnect: its provider is in the separate bundle, not in the initial files, and the
  // service worker does not precache it. The provider is an optional dependency: without it the
  // build writes a wc/walletconnect.js that only says so, and this check fails naming it.
  requirePackages(OPTIONAL_PACKAGES.walletConnect, 'the WalletConnect bundle check');
  const initialText = s.initial.map((f) => readFileSync(join('dist/web', f.file), 'utf8')).join('\n');
  assert.match(
    readFileSync('dist/web/wc/walletconnect.js', 'utf8'),
    /wc@2:ethereum_provider:/,
    'dist/web/wc/walletconnect.js does not hold the WalletConnect provider',
  );
  assert.doesNotMatch(initialText, /wc@2:ethereum_provider:|relay\.walletconnect/, 'WalletConnect code is in the initial JS');
  const sw = readFileSync('dist/web/sw.js', 'utf8');
  assert.match(sw, /"\/index\.html"/, 'dist/web/sw.js has no precache list: the check below would pass for nothing');
  assert.doesNotMatch(sw, /"\/wc\//, 'the service worker precaches the WalletConnect bundle');
  // onnxruntime-web: its chunk exists and is not initial. Found by the name of its wasm file,
  // which only its code holds (the message catalog mentions "onnxruntime-web" in a sentence).
  const ortChunks = readdirSync('dist/web/assets').filter((f) => f.endsWith('.js') && /ort-wasm/.test(readFileSync(join('dist/web/assets', f), 'utf8')));
  assert.ok(ortChunks.length > 0, 'no chunk holds onnxruntime-web: the check below would pass for nothing');
  for (const c of ortChunks) assert.ok(!s.initial.some((f) => f.file.endsWith(c)), `onnxruntime-web (${c}) is in the initial JS`);
});

/** Every text asset of a build (pages, scripts, styles, the service worker, the manifest), by path. */
function textAssets(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && /\.(html|m?js|css|json|webmanifest)$/.test(e.name)) out.set(join(e.parentPath, e.name), readFileSync(join(e.parentPath, e.name), 'utf8'));
  }
  return out;
}

/** Test-only code, by what it leaves in a bundle: the hooks' globals and names, the page attacks, the coordinator's fault switch. */
const TEST_ONLY = [/__idlegrad/, /installTestHook/, /shapeTrained/, /attack/i, /IDLEGRAD_FAULT/];

test('the production build holds no test hook, attack code or fault switch; the e2e build that the browser tests load does', () => {
  ensureWebBuild('production');
  ensureWebBuild('e2e');
  const shipped = textAssets(WEB_DIRS.production);
  assert.ok([...shipped.keys()].some((f) => f.endsWith('index.html')) && shipped.size > 10, `${WEB_DIRS.production} holds ${shipped.size} text assets`);
  const found = [...shipped].flatMap(([file, text]) => TEST_ONLY.filter((re) => re.test(text)).map((re) => `${file}: ${re}`));
  assert.deepEqual(found, [], 'test-only code in the production build');
  // The same search finds the hooks where they belong: it is not blind to minified output.
  const e2e = [...textAssets(WEB_DIRS.e2e).values()].join('\n');
  for (const re of [/__idlegrad/, /attack/i]) assert.match(e2e, re, `the e2e build (${WEB_DIRS.e2e}) lacks ${re}`);
});
