// Builds the browser side: three pages (volunteer app, project-lead dashboard, embed widget)
// from web/ into dist/web, which the coordinator serves. WGSL comes in through `?raw` imports
// in kernels/ (native in Vite); the training worker is an ES module worker.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

const fromRoot = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: fromRoot('./web'),
  publicDir: fromRoot('./public'),
  plugins: [svelte()],
  build: {
    outDir: fromRoot('./dist/web'),
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
  worker: { format: 'es' },
  // web/ imports ../shared and ../kernels: let the dev server read the whole repository.
  server: { fs: { allow: [fromRoot('.')] } },
});
