// Builds the browser side: three pages (volunteer app, project-lead dashboard, embed widget)
// from web/ into dist/web, which the coordinator serves. `vite build --mode e2e` builds the
// same pages for the browser tests into dist/web-e2e, each page's main.ts swapped for its
// entry in e2e/page/ (the test hook, the attacking trainer): nothing of those is in dist/web. WGSL comes in through `?raw` imports
// in kernels/ (native in Vite); the training worker is an ES module worker.
//
// PWA (web/pwa/: our own small plugin and service worker, no framework): a web app manifest and
// a service worker that precaches the app shell (the three pages, their JS/CSS, the worker,
// icons) so the app opens offline to a clear offline state. Nothing under /api, /ws, /peerjs or
// /rpc is ever cached or answered by the service worker: live state comes from the coordinator
// or not at all. Large WebAssembly (onnxruntime-web, loaded lazily) is cached at runtime, on
// first use. A new build waits until the volunteer accepts the update banner
// (web/src/state/pwa.svelte.ts).
//
// WalletConnect (web/src/client/wallet/walletconnect.ts, with @walletconnect/ethereum-provider and the
// QR modal it loads) is built as its own self-contained bundle into dist/web/wc/ after the
// app, and the page imports it by URL only when a volunteer asks for it. Inside the app's
// module graph a dynamic import would share viem/noble modules with the app and split the
// app's initial JavaScript into many small chunks (≈ 8 KiB gzip more, over the 150 KiB
// budget); as a separate bundle it carries its own copies and the app stays as it was. It is
// not precached (it needs the network to reach a relay anyway).
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { pwa } from './web/pwa/vite-plugin.ts';
import { missingPackages, OPTIONAL_PACKAGES } from './web/optional-packages.ts';
import { WALLETCONNECT_ABSENT } from './coordinator/deploy/index.ts';

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

/**
 * After the app's build: <outDir>/wc/walletconnect.js (and the chunks it loads lazily). Without
 * @walletconnect/ethereum-provider installed (an optional dependency), wc/walletconnect.js is a
 * module whose connectWalletConnect rejects with what to install, which the page shows when a
 * volunteer asks for WalletConnect on a platform whose lead configured it.
 */
function walletConnectBundle(outDir: string): Plugin {
  return {
    name: 'idlegrad-walletconnect-bundle',
    apply: 'build',
    async closeBundle() {
      const missing = missingPackages(OPTIONAL_PACKAGES.walletConnect);
      if (missing.length > 0) {
        const why = `this platform was ${WALLETCONNECT_ABSENT}: install ${missing.join(', ')} (npm install --no-save ${missing.join(' ')}) and rebuild (npm run build)`;
        mkdirSync(`${outDir}/wc`, { recursive: true });
        writeFileSync(`${outDir}/wc/walletconnect.js`, `export async function connectWalletConnect() {\n  throw new Error(${JSON.stringify(why)});\n}\n`);
        this.warn(`${missing.join(', ')} is not installed: dist/web/wc/walletconnect.js only says so (WalletConnect is optional)`);
        return;
      }
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
    plugins: [...(e2e ? [e2ePageEntries()] : []), svelte(), walletConnectBundle(outDir), pwa(outDir)],
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
