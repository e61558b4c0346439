// GET /healthz: the process is up and serving HTTP (200, always, while it answers).
// GET /readyz: it can do its work: the ledger answers a statement and the chain's RPC answers
// eth_blockNumber, each within a timeout; and it is not draining for a shutdown. In a cluster
// (coordinator/cluster.ts) the answer names the process's role, and a leader also checks that
// its session still holds the leader lock (`lease`); a follower answers from its relay: its
// ledger session and its leader (coordinator/cluster.ts). 200 with every check's result, or
// 503 with a JSON body naming what failed.
// GET /metrics: the Prometheus text of coordinator/ops/metrics.ts.
import express from 'express';
import type { OpsMetrics } from './metrics.ts';

export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answers; rejects (or runs past the timeout) when it does not. */
  check(): Promise<void>;
}

/** One coordinator alone (no DATABASE_URL), or the leader or a follower of a cluster. */
export type Role = 'single' | 'leader' | 'follower';

export interface Readiness {
  ready: boolean;
  role: Role;
  /** The names of the checks that failed. */
  failed: string[];
  checks: Record<string, { ok: boolean; ms: number; error?: string }>;
}

export async function readiness(
  checks: ReadinessCheck[],
  timeoutMs: number,
  scrub: (s: string) => string = (s) => s,
  role: Role = 'single',
): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async (c) => {
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          c.check(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
        ]);
        return [c.name, { ok: true, ms: Math.round(performance.now() - t0) }] as const;
      } catch (e) {
        const error = scrub(((e as Error)?.message ?? String(e)).split('\n')[0].slice(0, 300));
        return [c.name, { ok: false, ms: Math.round(performance.now() - t0), error }] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const failed = results.filter(([, r]) => !r.ok).map(([n]) => n);
  return { ready: failed.length === 0, role, failed, checks: Object.fromEntries(results) };
}

/** An EVM JSON-RPC endpoint answering eth_blockNumber. */
export function rpcCheck(rpcUrl: string, timeoutMs: number): ReadinessCheck {
  return {
    name: 'chain',
    async check() {
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) throw new Error(`RPC answered HTTP ${res.status}`);
      const body = (await res.json()) as { result?: unknown; error?: { message?: string } };
      if (typeof body.result !== 'string') throw new Error(`RPC error: ${body.error?.message ?? 'no result'}`);
    },
  };
}

export interface OpsRouteOptions {
  metrics: OpsMetrics;
  /** The checks of the run being hosted now. */
  checks: () => ReadinessCheck[];
  /** True once a shutdown began: /readyz then answers 503 so that a balancer stops sending volunteers. */
  draining: () => boolean;
  /** What /readyz reports as its role, and the role's own checks (a leader's lease). Default: 'single', none. */
  role?: { role: Role; checks: ReadinessCheck[] };
  timeoutMs?: number;
  scrub?: (s: string) => string;
}

export function opsRoutes(o: OpsRouteOptions): express.Router {
  const r = express.Router();
  const started = Date.now();
  r.get('/healthz', (_req, res) => void res.json({ ok: true, uptimeS: Math.round((Date.now() - started) / 1000) }));
  r.get('/readyz', (_req, res, next) => {
    const draining: ReadinessCheck = {
      name: 'draining',
      check: async () => {
        if (o.draining()) throw new Error('the coordinator is shutting down');
      },
    };
    const role = o.role ?? { role: 'single', checks: [] };
    readiness([draining, ...o.checks(), ...role.checks], o.timeoutMs ?? 2_000, o.scrub, role.role).then(
      (r) => void res.status(r.ready ? 200 : 503).json(r),
      next,
    );
  });
  // Each recent commit's phases, wall and CPU ms (coordinator/round/commit-phases.ts): what `npm run load` reports as commitPhasesMs.
  r.get('/metrics/commit-phases', (_req, res) => void res.json({ commits: o.metrics.commits }));
  r.get('/metrics', (_req, res, next) => {
    o.metrics.text().then((text) => void res.type(o.metrics.contentType).send(text), next);
  });
  return r;
}
