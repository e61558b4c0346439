// Builds the browser side: three pages (volunteer app, project-lead dashboard, embed widget)
// from web/ into dist/web, which the coordinator serves. `vite build --mode e2e` builds the
// same pages for the browser tests into dist/web-e2e, each page's main.ts swapped for its
// entry in e2e/page/ (the test hook, the attacking trainer): nothing of those is in dist/web. WGSL comes in through `?raw` imports
// in kernels/ (native in Vite); the training worker is an ES module worker.
//
// PWA (vite-plugin-pwa, Workbox): a web app manifest and a service worker that precaches the
// app shell (the three pages, their JS/CSS, the worker, icons) so the app opens offline to a
// clear offline state. Nothing under /api, /ws, /peerjs or /rpc is ever cached or answered by
// the service worker: live state comes from the coordinator or not at all. Large WebAssembly
// (onnxruntime-web, loaded lazily) is cached at runtime, on first use. registerType 'prompt':
// a new build waits until the volunteer accepts the update banner (web/src/volunteer/main.ts).
//
// WalletConnect (web/src/client/wallet/walletconnect.ts, with @walletconnect/ethereum-provider and the
// QR modal it loads) is built as its own self-contained bundle into dist/web/wc/ after the
// app, and the page imports it by URL only when a volunteer asks for it. Inside the app's
// module graph a dynamic import would share viem/noble modules with the app and split the
// app's initial JavaScript into many small chunks (≈ 8 KiB gzip more, over the 150 KiB
// budget); as a separate bundle it carries its own copies and the app stays as it was. It is
// not precached (it needs the network to reach a relay anyway).
import { fileURLToPath } from 'node:url';
import { build, defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

const fromRoot = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** The e2e build's page entries: each web/src/<page>/main.ts resolves to e2e/page/<page>.ts. */
function e2ePageEntries(): Plugin {
  const swap = new Map(['volunteer', 'embed', 'dashboard'].map((p) => [fromRoot(`./web/src/${p}/main.ts`), fromRoot(`./e2e/page/${p}.ts`)]));
  return {
    name: 'idlegrad-e2e-page-entries',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved && swap.has(resolved.id) ? swap.get(resolved.id)! : null;
    },
  };
}

/** After the app's build: <outDir>/wc/walletconnect.js (and the chunks it loads lazily). */
function walletConnectBundle(outDir: string): Plugin {
  return {
    name: 'idlegrad-walletconnect-bundle',
    apply: 'build',
    async closeBundle() {
      await build({
        configFile: false,
        logLevel: 'warn',
        define: { 'process.env.NODE_ENV': '"production"' },
        build: {
          outDir: `${outDir}/wc`,
          emptyOutDir: true,
          target: 'es2022',
          lib: { entry: fromRoot('./web/src/client/wallet/walletconnect.ts'), formats: ['es'], fileName: 'walletconnect' },
        },
      });
    },
  };
}

export default defineConfig(({ mode }) => {
  const e2e = mode === 'e2e';
  const outDir = fromRoot(e2e ? './dist/web-e2e' : './dist/web');
  return {
    root: fromRoot('./web'),
    publicDir: fromRoot('./public'),
    plugins: [
      ...(e2e ? [e2ePageEntries()] : []),
      svelte(),
      walletConnectBundle(outDir),
      VitePWA({
        registerType: 'prompt',
        injectRegister: false, // registered by the volunteer page itself (virtual:pwa-register)
        includeAssets: ['icon.svg'],
        manifest: {
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
        },
        workbox: {
          globPatterns: ['**/*.{html,js,css,svg,png,webmanifest}'],
          // embed.js is fetched by partner pages cross-origin: always from the network.
          globIgnores: ['embed.js', 'wc/**'],
          navigateFallback: '/index.html',
          navigateFallbackDenylist: [/^\/api\//, /^\/ws/, /^\/peerjs/, /^\/rpc/, /^\/embed\.js$/],
          cleanupOutdatedCaches: true,
          runtimeCaching: [
            {
              urlPattern: ({ url, sameOrigin }) => sameOrigin && url.pathname.endsWith('.wasm') && !/^\/(api|ws|peerjs|rpc)(\/|$)/.test(url.pathname),
              handler: 'CacheFirst',
              options: { cacheName: 'idlegrad-wasm', expiration: { maxEntries: 8 } },
            },
          ],
        },
      }),
    ],
    build: {
      outDir,
      emptyOutDir: true,
      target: 'es2022',
      rolldownOptions: {
        input: {
          index: fromRoot('./web/index.html'),
          dashboard: fromRoot('./web/dashboard.html'),
          embed: fromRoot('./web/embed.html'),
        },
      },
    },
    // js-sha3 (shared/keccak.ts, for the coordinator's speed) is replaced by viem's keccak in the
    // browser: see web/src/shims/js-sha3.ts.
    resolve: { alias: [{ find: /^js-sha3$/, replacement: fromRoot('./web/src/shims/js-sha3.ts') }] },
    worker: { format: 'es' },
    // web/ imports ../shared and ../kernels: let the dev server read the whole repository.
    server: { fs: { allow: [fromRoot('.')] } },
  };
});
