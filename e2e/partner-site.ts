// A demo partner site for the widget tests: a plain HTTP server on another origin than the
// platform (the tests open it as http://localhost:PORT while the platform is 127.0.0.1, so
// it is another site, as a real partner is). It serves
//   /          an article page embedding <idlegrad-widget>, recording its events and the
//              host page's long tasks (PerformanceObserver 'longtask') in window.__partner;
//   /framer    a page that frames embed.html itself while claiming to be `claimHost`
//              (a forged host: it must receive nothing and command nothing).
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEAD_TOKEN_FILE } from '../coordinator/http/index.ts';

/**
 * Registers `id` as a partner of the platform (only registered partners are credited for their
 * widget's reports), with the lead token `npm start` keeps in its data directory.
 */
export async function registerPartner(platform: { url: string; dataDir: string }, id: string, origins: string[]): Promise<void> {
  const token = readFileSync(join(platform.dataDir, LEAD_TOKEN_FILE), 'utf8').trim();
  const res = await fetch(new URL('api/lead/partners', platform.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, origins }),
  });
  if (res.status !== 201) throw new Error(`registering partner ${id}: HTTP ${res.status} ${await res.text()}`);
}

export interface PartnerSite {
  port: number;
  close(): Promise<void>;
}

const recorder = `
window.__partner = { longtasks: [], events: [], messages: [] };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__partner.longtasks.push({ start: e.startTime, duration: e.duration,
      attribution: (e.attribution || []).map((a) => ({ name: a.name, containerType: a.containerType, containerSrc: a.containerSrc })) });
  }
}).observe({ type: 'longtask', buffered: true });
addEventListener('message', (e) => window.__partner.messages.push({ origin: e.origin, data: e.data }));`;

export function partnerPage(platformUrl: string, opts: { run: number; partner: string }): string {
  const origin = new URL(platformUrl).origin;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner demo — The Daily Example</title>
<script>${recorder}</script>
<style>body{font:16px/1.5 Georgia,serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222} aside{float:right;margin:0 0 1rem 1rem}</style>
</head><body>
<h1>The Daily Example</h1>
<aside><idlegrad-widget run="${opts.run}" partner="${opts.partner}"></idlegrad-widget></aside>
<p>An ordinary article on a partner's site. The box on the right is idlegrad's widget: it trains a shared
neural network in its own frame, on idlegrad's origin, and only after the reader opts in and presses Start.</p>
<p>${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(12)}</p>
<script src="${origin}/embed.js" async></script>
<script>
  const w = document.querySelector('idlegrad-widget');
  w.addEventListener('idlegrad-state', (e) => window.__partner.events.push({ kind: 'state', at: performance.now(), ...e.detail }));
  w.addEventListener('idlegrad-contribution', (e) => window.__partner.events.push({ kind: 'contribution', at: performance.now(), ...e.detail }));
</script>
</body></html>`;
}

export function framerPage(platformUrl: string, claimHost: string): string {
  const origin = new URL(platformUrl).origin;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Forged host</title><script>${recorder}</script></head><body>
<iframe id="w" width="360" height="240" src="${origin}/embed.html?partner=forged&host=${encodeURIComponent(claimHost)}"></iframe>
</body></html>`;
}

export async function startPartnerSite(platformUrl: string, opts: { run: number; partner: string; claimHost?: string }): Promise<PartnerSite> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = path === '/' ? partnerPage(platformUrl, opts) : path === '/framer' ? framerPage(platformUrl, opts.claimHost ?? 'http://localhost') : null;
    if (body === null) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
