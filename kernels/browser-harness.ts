// Test and benchmark harness: bundle a worker entry with esbuild (WGSL `?raw` imports as text,
// as Vite does), serve it from a throwaway 127.0.0.1 server, run it in a dedicated Web Worker
// inside headless Chromium and return what the worker posts back. Node-only.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { build, type Plugin } from 'esbuild';
import { launchChromium } from '../e2e/chromium.ts';

/** `import src from './x.wgsl?raw'` → the file's text. */
export const wgslRawPlugin: Plugin = {
  name: 'wgsl-raw',
  setup(b) {
    b.onResolve({ filter: /\.wgsl\?raw$/ }, (args) => ({
      path: resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)),
      namespace: 'wgsl-raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'wgsl-raw' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
  },
};

export async function bundleWorker(entry: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [wgslRawPlugin],
  });
  return out.outputFiles[0].text;
}

/** The page starts the worker, hands it `input`, and exposes its first message (or error) as window.__result. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>idlegrad worker harness</title>
<script type="module">
  const worker = new Worker('/worker.js', { type: 'module' });
  window.__result = new Promise((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => resolve({ type: 'error', name: 'WorkerError', message: e.message || 'worker failed to load' });
  });
  worker.postMessage(JSON.parse(decodeURIComponent(location.hash.slice(1) || '%7B%7D')));
</script>`;

export interface WorkerRunOptions {
  input?: unknown;
  timeoutMs?: number;
  /** Forwarded browser console lines (debugging). */
  onConsole?: (line: string) => void;
}

/** Runs `entry` (a worker module that answers one postMessage) in headless Chromium. */
export async function runInChromiumWorker<T>(entry: string, opts: WorkerRunOptions = {}): Promise<T> {
  const [result] = await runInChromiumWorkers<T>(entry, { ...opts, pages: 1 });
  return result;
}

/** The same, in `pages` tabs of one browser at once (they share Chromium's GPU process). */
export async function runInChromiumWorkers<T>(entry: string, opts: WorkerRunOptions & { pages: number }): Promise<T[]> {
  const js = await bundleWorker(entry);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    else if (path === '/worker.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const pages = await Promise.all(Array.from({ length: opts.pages }, () => context.newPage()));
    const url = `http://127.0.0.1:${port}/#${encodeURIComponent(JSON.stringify(opts.input ?? {}))}`;
    return await Promise.all(
      pages.map(async (page, i) => {
        if (opts.onConsole) page.on('console', (m) => opts.onConsole!(`[tab ${i}] ${m.text()}`));
        page.setDefaultTimeout(opts.timeoutMs ?? 60_000);
        await page.goto(url);
        return (await page.evaluate('window.__result')) as T;
      }),
    );
  } finally {
    await browser.close();
    server.close();
  }
}
