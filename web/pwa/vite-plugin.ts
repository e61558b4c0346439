// The installable app without a PWA framework: after the build, /manifest.webmanifest and
// /sw.js (./service-worker.js behind its precache list) are written into the output, and every
// page links the manifest. The precache list is every page, script, style and icon the build
// wrote, except embed.js (partner pages fetch it cross-origin) and wc/ (the WalletConnect
// bundle, which needs the network anyway), each with a content hash as its revision.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Plugin } from 'vite';

export const WEB_MANIFEST = {
  name: 'idlegrad — lend your idle GPU',
  short_name: 'idlegrad',
  description: 'Lend an idle GPU to train a shared neural network in your browser.',
  start_url: '/',
  scope: '/',
  display: 'standalone',
  background_color: '#ffffff',
  theme_color: '#2f6fdf',
  icons: [
    { src: '/icon-192.png', sizes: '192x192', type: 'image/png' },
    { src: '/icon-512.png', sizes: '512x512', type: 'image/png' },
    { src: '/icon-512-maskable.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
    { src: '/icon.svg', sizes: 'any', type: 'image/svg+xml' },
  ],
};

const PRECACHED = /\.(html|js|css|svg|png|webmanifest)$/;
const NOT_PRECACHED = /^(embed\.js|sw\.js|wc\/.*)$/;

/** [path, revision] for each file of `outDir` the service worker precaches, sorted by path. */
export function precacheList(outDir: string): [string, string][] {
  const out: [string, string][] = [];
  for (const e of readdirSync(outDir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const rel = relative(outDir, join(e.parentPath, e.name)).split(sep).join('/');
    if (!PRECACHED.test(rel) || NOT_PRECACHED.test(rel)) continue;
    out.push([
      `/${rel}`,
      createHash('sha256')
        .update(readFileSync(join(outDir, rel)))
        .digest('hex')
        .slice(0, 16),
    ]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : 1));
}

export function pwa(outDir: string): Plugin {
  return {
    name: 'idlegrad-pwa',
    apply: 'build',
    transformIndexHtml: () => [{ tag: 'link', attrs: { rel: 'manifest', href: '/manifest.webmanifest' }, injectTo: 'head' }],
    closeBundle: {
      order: 'post',
      handler() {
        writeFileSync(join(outDir, 'manifest.webmanifest'), JSON.stringify(WEB_MANIFEST, null, 2));
        const list = precacheList(outDir);
        const version = createHash('sha256').update(JSON.stringify(list)).digest('hex').slice(0, 16);
        const source = readFileSync(new URL('./service-worker.js', import.meta.url), 'utf8');
        writeFileSync(join(outDir, 'sw.js'), `const PRECACHE = ${JSON.stringify(list)};\nconst VERSION = ${JSON.stringify(version)};\n${source}`);
      },
    },
  };
}
