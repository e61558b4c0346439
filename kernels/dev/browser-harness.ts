// Test and benchmark harness: bundle a worker entry with esbuild (WGSL `?raw` imports as text,
// as Vite does), serve it from a throwaway 127.0.0.1 server, run it in a dedicated Web Worker
// inside headless Chromium and return what the worker posts back. Node-only.
import { createServer, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { build, type Plugin } from 'esbuild';
import { launchChromium } from '../../e2e/chromium.ts';

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
  /** Static files the worker fetches: URL path prefix (e.g. '/ort/') → directory on disk. */
  files?: Record<string, string>;
}

const CONTENT_TYPES: Record<string, string> = { '.wasm': 'application/wasm', '.mjs': 'text/javascript', '.js': 'text/javascript' };

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
    else void serveFile(res, path, opts.files ?? {});
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

async function serveFile(res: ServerResponse, path: string, files: Record<string, string>): Promise<void> {
  const prefix = Object.keys(files).find((p) => path.startsWith(p));
  const name = prefix === undefined ? '' : path.slice(prefix.length);
  if (prefix === undefined || !/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
  try {
    const body = await readFile(resolve(files[prefix], name));
    res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(name)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
}
