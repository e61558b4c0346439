// The volunteer app's service worker, emitted as /sw.js by ./vite-plugin.ts, which puts two
// constants in front of this file: PRECACHE (the app shell: [path, revision] for every page,
// script, style and icon of the build) and VERSION (a hash over those revisions).
//
// - The app shell is served cache-first, so the app opens offline to its own offline state.
// - A navigation the shell does not hold (any path but the live ones below) gets /index.html.
// - /api, /ws, /peerjs and /rpc are never answered or cached here: live state comes from the
//   coordinator or not at all. embed.js (partner pages fetch it cross-origin) and the
//   WalletConnect bundle under /wc/ always come from the network.
// - Same-origin WebAssembly (onnxruntime-web, loaded on first use) is cached at runtime, the
//   newest 8 files.
// - An update installs and then waits: the page shows its banner and posts SKIP_WAITING only
//   when the volunteer accepts, so a training tab is never reloaded by an update.
/* global PRECACHE, VERSION */
const SHELL = `idlegrad-shell-${VERSION}`;
const WASM = 'idlegrad-wasm';
const WASM_ENTRIES = 8;
const LIVE = /^\/(api|ws|peerjs|rpc)(\/|$)/;
const NETWORK_ONLY = /^\/(embed\.js$|wc\/)/;
const shellPaths = new Set(PRECACHE.map(([path]) => path));

self.addEventListener('install', (event) => {
  // cache: 'reload' so a stale HTTP cache never ends up in a new shell.
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(PRECACHE.map(([path]) => new Request(path, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((names) => Promise.all(names.filter((n) => n.startsWith('idlegrad-shell-') && n !== SHELL).map((n) => caches.delete(n)))));
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'SKIP_WAITING') self.skipWaiting();
});

/** The shell path a request's path stands for: "/" → "/index.html", "/dashboard" → "/dashboard.html". */
function shellPath(path) {
  if (path.endsWith('/')) path += 'index.html';
  if (shellPaths.has(path)) return path;
  if (shellPaths.has(`${path}.html`)) return `${path}.html`;
  return null;
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || LIVE.test(url.pathname) || NETWORK_ONLY.test(url.pathname)) return;
  const path = shellPath(url.pathname) ?? (req.mode === 'navigate' ? '/index.html' : null);
  if (path) {
    event.respondWith(caches.open(SHELL).then(async (cache) => (await cache.match(path)) ?? fetch(req)));
    return;
  }
  if (url.pathname.endsWith('.wasm')) event.respondWith(wasm(req));
});

async function wasm(req) {
  const cache = await caches.open(WASM);
  const hit = await cache.match(req);
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok) {
    await cache.put(req, res.clone());
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - WASM_ENTRIES))) await cache.delete(old);
  }
  return res;
}
