// Shared by the *.test.ts files only.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One compile cache for all test files, so only the first test process runs solc. */
export const TEST_CACHE_DIR = path.join(os.tmpdir(), 'idlegrad-chain-test-cache');

/** Whether `pid` is a live process (a zombie, exited but not yet reaped, counts as dead). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may hold spaces, so split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no procfs (macOS): kill(0) succeeding is all we know
  }
}

/** Poll `cond` every 50 ms until it holds or `ms` pass; returns its last value. */
export async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** An HTTP proxy in front of a JSON-RPC URL that a test can take down (`down = true`: every
 *  request's socket is destroyed, as when the RPC host is unreachable) and bring back. */
export async function startRpcProxy(upstream: string): Promise<{ url: string; down: boolean; close(): void }> {
  const { createServer, request } = await import('node:http');
  const proxy = { url: '', down: false, close: () => {} };
  const server = createServer((req, res) => {
    if (proxy.down) return void res.socket?.destroy();
    const up = request(upstream, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  proxy.close = () => {
    server.closeAllConnections();
    server.close();
  };
  return proxy;
}
