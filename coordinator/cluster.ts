// Two or more coordinators on one PostgreSQL (DATABASE_URL) serving one run.
//
// Leadership is a PostgreSQL session-level advisory lock: the coordinator whose connection
// holds it runs the whole platform (round engine, validator, reward epochs: the only one
// that commits rounds and posts roots) and records its address in `cluster_leader`. Every
// other coordinator is a follower: it holds the WebSocket and HTTP connections of its own
// volunteers and relays them, unchanged, to the leader it finds in PostgreSQL (hello
// signatures, reports and uploads are checked once, by the leader). When the leader dies its
// connection drops, PostgreSQL frees the lock, a follower takes it within `pollMs`, resumes
// the run from the shared ledger on its own port and reconnecting volunteers go on there.
// All coordinators share one chain (RPC_URL + DEPLOYER_KEY, the same owner key): the
// contract addresses live in PostgreSQL, so a new leader re-attaches instead of deploying.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import {
  redactUrl,
  LEADER_LOCK,
  ensureClusterTables,
  tryLeaderLock,
  holdsLeaderLock,
  clusterContracts,
  saveClusterContracts,
  registerLeader,
  leaderUrl,
} from './db/index.ts';
import { startPlatform, type Platform } from './platform.ts';
import type { PlatformConfig } from './config.ts';
import { readiness, type Readiness, type ReadinessCheck } from './ops/index.ts';
import { forwardedFor } from './http/index.ts';

export interface ClusterNode {
  /** This coordinator's own volunteer-facing URL (stays the same across a takeover). */
  url: string;
  role(): 'leader' | 'follower';
  /** The platform once this node leads. */
  platform(): Platform | null;
  /** Resolves when this node has become the leader. */
  leading: Promise<Platform>;
  stop(): Promise<void>;
}

export async function startClusterNode(
  cfg: PlatformConfig,
  log: (line: string) => void = console.log,
  opts: { pollMs?: number; scrub?: (s: string) => string } = {},
): Promise<ClusterNode> {
  const databaseUrl = cfg.databaseUrl;
  if (!databaseUrl) throw new Error('a coordinator cluster needs DATABASE_URL');
  const pollMs = opts.pollMs ?? 250;
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect().catch((e: Error) => {
    throw new Error(`DATABASE_URL (${redactUrl(databaseUrl)}): cannot connect to PostgreSQL: ${e.message}`);
  });
  await ensureClusterTables(lock);
  const tryLead = () => tryLeaderLock(lock);

  let platform: Platform | null = null;
  let relay: Relay | null = null;
  let stopped = false;
  let onLead!: (p: Platform) => void;
  let leadFailed!: (e: Error) => void;
  const leading = new Promise<Platform>((res, rej) => ((onLead = res), (leadFailed = rej)));
  leading.catch(() => undefined);

  // Losing the lock's connection means another coordinator may lead now: stop at once
  // rather than commit rounds beside it.
  const lost = (why: string) => {
    if (stopped) return;
    log(`cluster: lost the PostgreSQL session that holds or awaits leadership (${why}); exiting`);
    process.exit(1);
  };
  lock.on('error', (e) => lost(e.message));
  lock.on('end', () => lost('connection ended'));

  const contractsFile = join(resolve(cfg.dataDir), 'contracts.rpc.json');
  async function lead(port: number): Promise<Platform> {
    if (cfg.rpcUrl) {
      // The platform keeps the contract addresses in its data directory: give it the cluster's.
      const addresses = await clusterContracts(lock);
      if (addresses) {
        mkdirSync(resolve(cfg.dataDir), { recursive: true });
        writeFileSync(contractsFile, JSON.stringify(addresses, null, 2));
      }
    }
    // /readyz: the leader, while this session still holds the lock.
    const lease: ReadinessCheck = {
      name: 'lease',
      check: async () => {
        if (!(await holdsLeaderLock(lock))) throw new Error('this coordinator no longer holds the leader lock');
      },
    };
    const p = await startPlatform({ ...cfg, port }, log, opts.scrub, { role: 'leader', checks: [lease] });
    if (cfg.rpcUrl && existsSync(contractsFile)) {
      await saveClusterContracts(lock, p.chain.chainId, readFileSync(contractsFile, 'utf8'));
    }
    await registerLeader(lock, cfg.advertiseUrl ?? p.url, process.pid);
    return p;
  }

  try {
    if (await tryLead()) {
      platform = await lead(cfg.port);
      onLead(platform);
      log(`cluster: leading (PostgreSQL advisory lock ${LEADER_LOCK})`);
      return node(platform.url);
    }
    // Follower.
    if (!cfg.rpcUrl)
      throw new Error('another coordinator leads this database: a second coordinator needs RPC_URL and DEPLOYER_KEY so that all share one chain');
    const leader = async () => {
      const url = await leaderUrl(lock);
      if (!url) throw new Error('no leader has registered yet');
      return url;
    };
    // /readyz here: its own ledger session answers and the leader it relays to is up.
    const ready = () =>
      readiness(
        [
          { name: 'ledger', check: async () => void (await leaderUrl(lock)) },
          {
            name: 'leader',
            check: async () => {
              const url = await leader();
              const r = await fetch(new URL('healthz', url), { signal: AbortSignal.timeout(2_000) });
              if (!r.ok) throw new Error(`the leader ${url} answered /healthz with HTTP ${r.status}`);
            },
          },
        ],
        2_000,
        opts.scrub,
        'follower',
      );
    relay = await startRelay(cfg.port, cfg.host, leader, ready);
  } catch (e) {
    stopped = true;
    await lock.end().catch(() => undefined);
    throw e;
  }
  const host = cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host;
  const url = `http://${host}:${relay.port}/`;
  log(`cluster: following; volunteers here are relayed to the leader`);

  void (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, pollMs));
      if (stopped) return;
      let won = false;
      try {
        won = await tryLead();
      } catch (e) {
        log(`cluster: leadership check failed (${(e as Error).message})`);
        continue;
      }
      if (!won) continue;
      const t0 = Date.now();
      log('cluster: the leader is gone; taking over');
      try {
        const port = relay!.port;
        await relay!.close();
        relay = null;
        platform = await lead(port);
        log(`cluster: took over as leader in ${Date.now() - t0} ms (round ${platform.engine.round})`);
        onLead(platform);
      } catch (e) {
        log(`cluster: takeover failed: ${(e as Error).message}`);
        leadFailed(e as Error);
      }
      return;
    }
  })();
  return node(url);

  function node(url: string): ClusterNode {
    return {
      url,
      role: () => (platform ? 'leader' : 'follower'),
      platform: () => platform,
      leading,
      async stop() {
        stopped = true;
        await relay?.close();
        await platform?.stop();
        await lock.end().catch(() => undefined);
      },
    };
  }
}

interface Relay {
  port: number;
  close(): Promise<void>;
}

/** HTTP and WebSocket traffic passed through to the current leader, both ways; /healthz and /readyz answered here. */
async function startRelay(port: number, host: string, leaderUrl: () => Promise<string>, ready: () => Promise<Readiness>): Promise<Relay> {
  const sockets = new Set<WebSocket>();
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return json(200, { ok: true, role: 'follower' });
    if (path === '/readyz')
      return void ready().then(
        (r) => json(r.ready ? 200 : 503, r),
        (e: Error) => json(503, { ready: false, role: 'follower', failed: ['readiness'], checks: {}, error: e.message }),
      );
    const fail = (e: Error) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: `the leading coordinator cannot be reached: ${e.message}` } }));
    };
    leaderUrl().then((base) => {
      const target = new URL(req.url ?? '/', base);
      // The leader counts this volunteer under its own address when it trusts this follower (IDLEGRAD_TRUSTED_PROXIES).
      const up = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host, 'x-forwarded-for': forwardedFor(req) } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', fail);
      req.pipe(up);
    }, fail);
  });
  server.keepAliveTimeout = 65_000; // as the coordinator's own server (http/server.ts): the client closes an idle socket first
  server.headersTimeout = 66_000;
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    leaderUrl().then(
      (base) => {
        const upstream = new WebSocket(new URL(req.url ?? '/', base.replace(/^http/, 'ws')), { headers: { 'x-forwarded-for': forwardedFor(req) } });
        upstream.on('error', () => undefined); // handled with 'close' below
        const pending: [RawData, boolean][] = [];
        wss.handleUpgrade(req, socket, head, (client) => {
          sockets.add(client).add(upstream);
          client.on('message', (d, isBinary) => (upstream.readyState === upstream.OPEN ? upstream.send(d, { binary: isBinary }) : pending.push([d, isBinary])));
          upstream.on('open', () => {
            for (const [d, b] of pending.splice(0)) upstream.send(d, { binary: b });
          });
          upstream.on('message', (d, isBinary) => client.readyState === client.OPEN && client.send(d, { binary: isBinary }));
          // Either side gone: close the other, so a volunteer reconnects rather than waits.
          const end = () => {
            sockets.delete(client);
            sockets.delete(upstream);
            client.terminate();
            upstream.terminate();
          };
          client.on('close', end).on('error', end);
          upstream.on('close', end).on('error', end);
        });
      },
      () => socket.destroy(),
    );
  });
  const actual = await new Promise<number>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res((server.address() as { port: number }).port));
  });
  return {
    port: actual,
    close: () =>
      new Promise((res) => {
        for (const s of sockets) s.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}
