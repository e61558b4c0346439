// What a visitor downloads first, measured from the production build (dist/web, `npm run build`):
// the volunteer page's initial JavaScript — every <script src> and <link rel="modulepreload">
// in dist/web/index.html — and the partner loader embed.js, each gzipped (level 9).
// Lazily imported chunks (PeerJS, WalletConnect, onnxruntime-web) are not in it by design.
//
//   npx tsx e2e/bundle-size.ts        prints the figures (builds first when dist/web is stale)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureWebBuild } from './platform-process.ts';

export interface BundleSizes {
  initial: { file: string; bytes: number; gzip: number }[];
  initialGzip: number;
  embedGzip: number;
  embedBytes: number;
}

const gz = (b: Buffer) => gzipSync(b, { level: 9 }).byteLength;

export function measureBundle(dir = 'dist/web'): BundleSizes {
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const refs = new Set<string>();
  for (const m of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)) refs.add(m[1]);
  for (const m of html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*\bhref="([^"]+)"/g)) refs.add(m[1]);
  for (const m of html.matchAll(/<link\b[^>]*\bhref="([^"]+)"[^>]*\brel="modulepreload"/g)) refs.add(m[1]);
  const initial = [...refs].map((ref) => {
    const file = ref.replace(/^\.?\//, '');
    const bytes = readFileSync(join(dir, file));
    return { file, bytes: bytes.byteLength, gzip: gz(bytes) };
  });
  const embed = readFileSync(join(dir, 'embed.js'));
  return { initial, initialGzip: initial.reduce((s, f) => s + f.gzip, 0), embedGzip: gz(embed), embedBytes: embed.byteLength };
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

export function describeBundle(s: BundleSizes): string {
  return [
    `volunteer page initial JS: ${kib(s.initialGzip)} gzip in ${s.initial.length} file(s)`,
    ...s.initial.map((f) => `  ${f.file}: ${kib(f.bytes)} raw, ${kib(f.gzip)} gzip`),
    `embed.js: ${kib(s.embedBytes)} raw, ${kib(s.embedGzip)} gzip`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureWebBuild();
  console.log(describeBundle(measureBundle()));
}
