import { test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { API_POLICY, contentSecurityPolicy, securityHeaders } from './security-headers.ts';

test('every page has a CSP, nosniff and a referrer policy; only the embed page may be framed', async (t) => {
  const app = express();
  app.use(securityHeaders());
  app.get(/.*/, (_req, res) => void res.send('ok'));
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const path of ['/', '/index.html', '/dashboard.html', '/embed.html', '/embed.html?partner=x']) {
    const h = (await fetch(base + path)).headers;
    const csp = h.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/, path);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/, `${path}: WebAssembly, but no eval or inline script`);
    assert.match(csp, /worker-src 'self' blob:/);
    assert.match(csp, /connect-src 'self' ws: wss:/, `${path}: the PeerJS WebSocket`);
    assert.match(csp, /object-src 'none'/);
    assert.equal(h.get('x-content-type-options'), 'nosniff');
    assert.equal(h.get('referrer-policy'), 'strict-origin-when-cross-origin');
    if (path.startsWith('/embed.html')) {
      assert.match(csp, /frame-ancestors \*/);
      assert.equal(h.get('x-frame-options'), null);
    } else {
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(h.get('x-frame-options'), 'DENY', path);
    }
  }
});

test('API responses forbid everything with a short policy: none is a page, and a global update stays about one frame', async (t) => {
  const app = express();
  app.use(securityHeaders(() => ['https://news.example']));
  app.get(/.*/, (_req, res) => void res.send('ok'));
  app.post('/rpc', (_req, res) => void res.json({}));
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const [path, method] of [
    ['/api/health', 'GET'],
    ['/api/runs/1/updates/3/0x' + 'ab'.repeat(32), 'GET'],
    ['/api/data/train?partner=news', 'GET'],
    ['/rpc', 'POST'],
  ]) {
    const h = (await fetch(base + path, { method })).headers;
    assert.equal(h.get('content-security-policy'), API_POLICY, path);
    assert.equal(h.get('x-content-type-options'), 'nosniff', path);
    assert.equal(h.get('referrer-policy'), 'strict-origin-when-cross-origin', path);
  }
  // Only the API prefix: a page whose name merely starts like it keeps a page's policy.
  for (const path of ['/api', '/apidocs.html', '/rpc.html']) {
    const csp = (await fetch(base + path)).headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
  }
});

test("a registered partner's widget may be framed only by the origins the lead registered for it", async (t) => {
  const registry = new Map<string, string[]>([
    ['news', ['https://news.example', 'http://localhost:8080']],
    ['nobody', []],
  ]);
  const app = express();
  app.use(securityHeaders((id) => registry.get(id)));
  app.get(/.*/, (_req, res) => void res.send('ok'));
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ancestors = async (path: string) => /frame-ancestors ([^;]*)/.exec((await fetch(base + path)).headers.get('content-security-policy') ?? '')?.[1];
  assert.equal(await ancestors('/embed.html?partner=news'), 'https://news.example http://localhost:8080');
  assert.equal(await ancestors('/embed.html?partner=nobody'), "'none'", 'registered with no origins: framed by nobody');
  assert.equal(await ancestors('/embed.html?partner=stranger'), '*', 'an unregistered id earns no partner credit: any site');
  assert.equal(await ancestors('/embed.html'), '*');
  assert.equal(await ancestors('/?partner=news'), "'none'", 'the volunteer page is never framed');
  assert.equal((await fetch(base + '/embed.html?partner=news')).headers.get('x-frame-options'), null);
  // An origin that could split the header is never written into it.
  assert.equal(contentSecurityPolicy('/embed.html', 'x', () => ['https://a.example; script-src *']).match(/frame-ancestors ([^;]*)/)?.[1], "'none'");
});
