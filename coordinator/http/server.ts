// HTTP + WebSocket API, the PeerServer (signaling) and the built web app, on one port.
import express, { type Request, type Response, type NextFunction } from 'express';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ExpressPeerServer } from 'peer';
import { WebSocketServer, type WebSocket } from 'ws';
import { isAddress, type Address, type Hex } from 'viem';
import { IdlegradError, isIdlegradError } from '../../shared/errors.ts';
import { keepsInnerState, type RunSpec } from '../../shared/config.ts';
import { maxCohortAggregateBytes, maxPeerFrameBytes } from '../../shared/round.ts';
import {
  decodeRelay,
  encodeRelayedFrame,
  MAX_RELAY_FRAME,
  delegationFromJson,
  innerStateBytes,
  encodeDataset,
  helloMessage,
  parseClientMessage,
  PROTOCOL_VERSION,
  type ChainInfo,
  type DashboardState,
  type ServerMessage,
} from '../../shared/wire/index.ts';
import type { Dataset } from '../../shared/mlp.ts';
import type { RoundEngine, Session } from '../round/index.ts';
import { type Ledger, flaggedSummary } from '../db/index.ts';
import { type Rewards, bindWallet } from '../rewards/index.ts';
import { contributionTimeline } from '../../shared/timeline.ts';
import type { EvidenceDesk } from '../verify/index.ts';
import { keepIceFresh, NO_ICE, type IceSettings } from '../ice.ts';
import { checkRpcRequest } from './rpc-guard.ts';
import type { Faucet } from '../rewards/index.ts';
import { securityHeaders, type PartnerOrigins } from './security-headers.ts';
import { assertLowS } from '../../shared/low-s.ts';
import { DEFAULT_SURFACE_LIMITS, messageBucket, SessionCounter, type SurfaceLimits } from './surface-limits.ts';
import { clientAddress, NO_TRUSTED_PROXIES, type TrustedProxies } from './client-address.ts';
import { keepSocketsAlive, type OpsMetrics } from '../ops/index.ts';
import { forEachInSlices } from '../slices.ts';

export interface ServerDeps {
  engine: RoundEngine;
  ledger: Ledger;
  rewards: Rewards;
  /** The dev gas faucet (coordinator/faucet.ts). */
  faucet: Faucet;
  train: Dataset;
  webDir: string;
  chainRpcUrl: string;
  /** Chain info as the browser sees it (rpcUrl is the /rpc proxy). */
  chain: ChainInfo;
  /** Spot-check evidence uploads (coordinator/verify/evidence-desk.ts). */
  evidence?: EvidenceDesk;
  /** More routes (coordinator/http/lead.ts: run control, ONNX export), mounted before the web app. */
  routes?: express.Router;
  /** Extra figures for the lead dashboard (coordinator/db/run-insights.ts). */
  insights?: () => Promise<DashboardState['insights']>;
  /** The spot-check validator's executor, backlog and check times (coordinator/verify/validator.ts). */
  validator?: () => DashboardState['validator'];
  /** STUN/TURN for the pages' RTCPeerConnections (coordinator/ice.ts). Default none. */
  ice?: IceSettings;
  /** Reward epoch posting: failing and retried, or fine (coordinator/epoch-poster.ts). */
  epochPosting?: () => DashboardState['epochPosting'];
  /** Hello timeout, sockets per address, message rate (coordinator/surface-limits.ts). Default DEFAULT_SURFACE_LIMITS. */
  limits?: SurfaceLimits;
  /** Proxies whose X-Forwarded-For names the client for those limits (coordinator/http/client-address.ts). Default none. */
  trustedProxies?: TrustedProxies;
  /** Sessions and reports counted where they happen (coordinator/ops/metrics.ts). */
  metrics?: Pick<OpsMetrics, 'sessionOpened' | 'sessionClosed' | 'report'>;
  /** A registered partner's origins: its widget may be framed only by them (coordinator/http/security-headers.ts). */
  partnerOrigins?: PartnerOrigins;
  /** WebSocket ping interval; a socket that missed the previous ping is terminated (coordinator/ops/heartbeat.ts). Default 30 000 ms. */
  heartbeatMs?: number;
}

/**
 * A server message's JSON as UTF-8, made once per message object: a broadcast (the `committed`
 * notice, a relayed announcement) hands the same object to every session, which then costs one
 * JSON.stringify and one encoding instead of one per socket. Messages are never changed after
 * they are sent, so the object is its text's key.
 */
const encoded = new WeakMap<ServerMessage, Buffer>();
function utf8Once(m: ServerMessage): Buffer {
  let bytes = encoded.get(m);
  if (!bytes) encoded.set(m, (bytes = Buffer.from(JSON.stringify(m))));
  return bytes;
}

function sendError(res: Response, e: unknown): void {
  if (isIdlegradError(e)) {
    const status =
      e.code === 'NOT_FOUND' ? 404 : e.code === 'RPC_REFUSED' || e.code === 'FORBIDDEN' ? 403 : e.code === 'INTERNAL' || e.code === 'CHAIN_ERROR' ? 502 : 400;
    res.status(status).json({ error: { code: e.code, message: e.shortMessage } });
  } else {
    console.error('[http]', e);
    res.status(500).json({ error: { code: 'INTERNAL', message: (e as Error).message } });
  }
}

const route = (fn: (req: Request, res: Response) => Promise<void> | void) => (req: Request, res: Response, _next: NextFunction) => {
  Promise.resolve(fn(req, res)).catch((e) => sendError(res, e));
};

function addressParam(v: unknown, name: string): Address {
  if (typeof v !== 'string' || !isAddress(v, { strict: false }))
    throw new IdlegradError('BAD_MESSAGE', `${name}: expected an address, got ${JSON.stringify(v)}`);
  return v.toLowerCase() as Address;
}
/** A path number: plain decimal digits ("1e0", "0x1", " 1" are refused), below 2^31 (the ledger's integer columns). */
function intParam(v: unknown, name: string): number {
  const n = typeof v === 'string' && /^(0|[1-9][0-9]{0,9})$/.test(v) ? Number(v) : NaN;
  if (!(n <= 0x7fffffff)) throw new IdlegradError('BAD_MESSAGE', `${name}: expected a decimal integer in [0, 2^31), got ${JSON.stringify(v)}`);
  return n;
}

export interface ApiServer {
  server: Server;
  listen(port: number, host: string): Promise<number>;
  broadcastDashboard(): Promise<void>;
  pushAccounts(accounts: Address[]): Promise<void>;
  /** Shutdown, first step: no new connection or socket is taken (sockets open now keep working). */
  stopAccepting(): void;
  /** Closes everything. With `going`, sockets get that close frame first (1001 going away, 1012 restart) and a moment to answer it. */
  close(going?: { code: number; reason: string }): Promise<void>;
}

/** The `peer` package's own alive_timeout (peer 1.0.2: 90 s). */
export const PEER_ALIVE_TIMEOUT_MS = 90_000;

/**
 * How long PeerServer keeps a signalling client whose JSON heartbeat it has not read: one whole
 * round of the run (train, exchange and report windows), at least the package's 90 s. PeerJS
 * sends that heartbeat from the page's main thread every 5 s, so any seconds of work there
 * (hashing a large model's residuals, decoding its frames) delay it; past the timeout PeerServer
 * closes the socket and the page logs `Lost connection to server.` — all pages of a cohort at
 * once, since they do the same work at the same moment (issue 18, the fifth gpt-small swarm).
 * A connection that is really gone is still found within two heartbeat intervals by the
 * protocol-level ping (ops/heartbeat.ts keepSocketsAlive, answered by the browser's network
 * stack, not by page script); and a page held longer than a round has lost that round anyway.
 */
export const peerAliveTimeoutMs = (run: Pick<RunSpec, 'timing'>): number =>
  Math.max(PEER_ALIVE_TIMEOUT_MS, run.timing.trainMs + run.timing.exchangeMs + run.timing.reportMs);

/**
 * The largest WebSocket message the volunteer/dashboard protocol takes: 64 KiB of control messages,
 * or a binary relay carrying the run's largest update frame (its codec warm-up's included) and its
 * recipients. Larger ones close the socket with 1009.
 */
export const wsMaxPayload = (run: RunSpec): number => Math.max(64 * 1024, Math.min(maxPeerFrameBytes(run), MAX_RELAY_FRAME) + 32 * 1024);

export function createApiServer(deps: ServerDeps): ApiServer {
  const { engine, ledger, rewards } = deps;
  const app = express();
  const trustedProxies = deps.trustedProxies ?? NO_TRUSTED_PROXIES;
  // req.ip: the same right-most untrusted hop as the WebSocket's clientAddress.
  app.set('trust proxy', (address: string) => trustedProxies.trusts(address));
  app.disable('x-powered-by');
  app.use(securityHeaders(deps.partnerOrigins));
  const server = createServer(app);
  // An idle keep-alive socket is closed by the client first (undici and browsers keep one a few
  // seconds): when the server closed it at Node's 5 s default, a client reusing it at that moment
  // had its request fail with "other side closed" (seen in e2e/failover and e2e/protocol under load).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const trainBytes = Buffer.from(encodeDataset(deps.train));

  // Signaling. PeerJS's own WebSocket server is created without a server of its own so
  // that upgrades are routed by path below (two ws servers cannot share one `server`).
  const peerWss = new WebSocketServer({ noServer: true });
  app.use(
    '/peerjs',
    ExpressPeerServer(server, { path: '/', createWebSocketServer: () => peerWss, allow_discovery: false, alive_timeout: peerAliveTimeoutMs(engine.run) }),
  );

  const json = express.json({ limit: '64kb' });
  app.get('/api/health', (_req, res) => void res.json({ ok: true, round: engine.round }));
  app.get('/api/run', (_req, res) => void res.json({ run: engine.run, round: engine.round, modelHash: engine.modelHash, chain: deps.chain }));
  app.get('/api/data/train', (_req, res) => {
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('cache-control', 'public, max-age=86400');
    res.end(trainBytes);
  });
  // Published updates and snapshots (coordinator/round/published.ts). A URL with the content
  // hash in it is immutable (any CDN may keep it a year); the round-named update is as final
  // (a committed round never changes); /snapshot and /sync move with every commit.
  const runParam = (req: Request) => {
    if (intParam(req.params.id, 'run id') !== engine.run.id) throw new IdlegradError('NOT_FOUND', `no run ${req.params.id}`);
  };
  const sendObject = (req: Request, res: Response, bytes: Uint8Array, etag: string, immutable: boolean) => {
    res.setHeader('etag', `"${etag}"`);
    res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (req.headers['if-none-match'] === `"${etag}"`) return void res.status(304).end();
    res.setHeader('content-type', 'application/octet-stream');
    res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };
  const hashParam = (v: unknown): Hex => {
    if (typeof v !== 'string' || !/^0x[0-9a-f]{64}$/i.test(v))
      throw new IdlegradError('BAD_MESSAGE', `hash: expected 0x and 64 hex digits, got ${JSON.stringify(v)}`);
    return v.toLowerCase() as Hex;
  };
  app.get(
    '/api/runs/:id/sync',
    route(async (req, res) => {
      runParam(req);
      res.setHeader('cache-control', 'no-cache');
      res.json(await engine.published.index(intParam(req.query.from ?? String(engine.round), 'from')));
    }),
  );
  app.get(
    '/api/runs/:id/snapshot',
    route((req, res) => {
      runParam(req);
      const snap = engine.published.snapshot();
      sendObject(req, res, snap.body, snap.hash, false);
    }),
  );
  app.get(
    '/api/runs/:id/snapshots/:hash',
    route((req, res) => {
      runParam(req);
      const hash = hashParam(req.params.hash);
      const body = engine.published.snapshotByHash(hash);
      if (!body) throw new IdlegradError('NOT_FOUND', `no snapshot ${hash} (a newer round replaced it: read /api/runs/${engine.run.id}/sync again)`);
      sendObject(req, res, body, hash, true);
    }),
  );
  /** An immutable object named by its round and hash, or NOT_FOUND with `missing`'s prose. */
  const roundObject = (
    path: string,
    lookup: (round: number, hash: Hex) => Promise<Uint8Array | null> | Uint8Array | null,
    missing: (round: number, hash: Hex) => string,
  ) =>
    app.get(
      path,
      route(async (req, res) => {
        runParam(req);
        const round = intParam(req.params.round, 'round');
        const hash = hashParam(req.params.hash);
        const bytes = await lookup(round, hash);
        if (!bytes) throw new IdlegradError('NOT_FOUND', missing(round, hash));
        sendObject(req, res, bytes, hash, true);
      }),
    );
  roundObject(
    '/api/runs/:id/updates/:round/:hash',
    (round, hash) => engine.published.update(round, hash),
    (round, hash) => `no published update ${hash} for round ${round}`,
  );
  app.get(
    '/api/runs/:id/updates/:round',
    route(async (req, res) => {
      runParam(req);
      const round = intParam(req.params.round, 'round');
      const obj = await engine.published.updateObject(round);
      const frame = obj && (await engine.published.update(round, obj.hash));
      if (!obj || !frame) throw new IdlegradError('NOT_FOUND', `no published update for round ${round}`);
      sendObject(req, res, frame, obj.hash, true);
    }),
  );
  // The cross-cohort combine's record of a committed round (issue 17): every group's level, input
  // frame hashes, output hash and samples, and the combine version, for an auditor to redo
  // (shared/robust-combine.ts auditCombine). Read-only and final once the round is committed.
  app.get(
    '/api/runs/:id/rounds/:round/combine',
    route(async (req, res) => {
      runParam(req);
      const round = intParam(req.params.round, 'round');
      const record = await ledger.combineRecord(engine.run.id, round);
      if (!record) throw new IdlegradError('NOT_FOUND', `no combine record for round ${round} (not committed yet, or it combined no aggregate)`);
      res.setHeader('cache-control', 'public, max-age=31536000, immutable');
      res.json({ run: engine.run.id, round, version: record.version, groups: record.groups });
    }),
  );
  // The uploaded cohort aggregates a committed round's combine took (its level-1 inputs), while the
  // coordinator still keeps them (coordinator/round/combine-inputs.ts): an auditor redoes the combine from these.
  roundObject(
    '/api/runs/:id/rounds/:round/aggregates/:hash',
    (round, hash) => engine.combineInputs.get(round, hash),
    (round, hash) => `no kept aggregate ${hash} among round ${round}'s combine inputs (not one of them, or no longer kept)`,
  );
  app.post(
    '/api/runs/:id/rounds/:round/aggregate',
    // The run's own bound (a cohort's aggregate holds at most cohortSize × an update's values a chunk), not a fixed cap.
    express.raw({ type: () => true, limit: maxCohortAggregateBytes(engine.run) }),
    route(async (req, res) => {
      if (intParam(req.params.id, 'run id') !== engine.run.id) throw new IdlegradError('WRONG_RUN', `no run ${req.params.id} on this coordinator`);
      if (!Buffer.isBuffer(req.body)) throw new IdlegradError('BAD_FRAME', 'aggregate body must be the frame bytes (application/octet-stream)');
      const body = new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength);
      res.json({ aggregateHash: await engine.handleAggregate(intParam(req.params.round, 'round'), body) });
    }),
  );
  app.post(
    '/api/runs/:id/rounds/:round/evidence/:address',
    // flags ‖ residuals (each in full or as its digest: shared/wire/evidence.ts) ‖ inner state (run setting inner.state 'kept') ‖ frame:
    // at most the run's largest update frame, two float32 residuals and the state section.
    express.raw({
      type: () => true,
      limit: maxPeerFrameBytes(engine.run) + 1 + 8 * engine.run.paramCount + (keepsInnerState(engine.run) ? innerStateBytes(engine.run.paramCount) : 0),
    }),
    route(async (req, res) => {
      if (intParam(req.params.id, 'run id') !== engine.run.id) throw new IdlegradError('WRONG_RUN', `no run ${req.params.id} on this coordinator`);
      if (!deps.evidence) throw new IdlegradError('NOT_FOUND', 'this coordinator runs no validator');
      if (!Buffer.isBuffer(req.body))
        throw new IdlegradError(
          'BAD_FRAME',
          'evidence body must be flags ‖ residual before or its digest ‖ residual after or its digest ‖ inner state (a run that keeps it) ‖ frame (application/octet-stream)',
        );
      await deps.evidence.submit(
        intParam(req.params.round, 'round'),
        addressParam(req.params.address, 'address'),
        new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength),
      );
      res.json({ ok: true });
    }),
  );
  app.get(
    '/api/accounts/:address',
    route(async (req, res) => void res.json(await rewards.summary(addressParam(req.params.address, 'address')))),
  );
  app.get(
    '/api/accounts/:address/reward-proof',
    route(async (req, res) => void res.json(await rewards.rewardProof(addressParam(req.params.address, 'address')))),
  );
  app.post(
    '/api/faucet',
    json,
    route(async (req, res) => void res.json({ txHash: await deps.faucet.grant(addressParam(req.body?.address, 'address')) })),
  );
  app.post(
    '/api/accounts/:address/claimed',
    json,
    route(async (req, res) => {
      const account = addressParam(req.params.address, 'address');
      const tx = req.body?.txHash;
      if (typeof tx !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(tx))
        throw new IdlegradError('BAD_MESSAGE', `txHash: expected a 32-byte hex string, got ${JSON.stringify(tx)}`);
      res.json(await rewards.confirmClaim(account, tx as Hex));
      void api.pushAccounts([account]);
    }),
  );
  app.get(
    '/api/partners',
    route(async (_req, res) => void res.json({ run: engine.run.id, partners: await ledger.partners(engine.run.id) })),
  );
  app.get(
    '/api/contributions/:id',
    route(async (req, res) => {
      const c = await ledger.contribution(intParam(req.params.id, 'contribution id'));
      if (!c) throw new IdlegradError('NOT_FOUND', `no contribution ${req.params.id}`);
      const proof = c.state === 'claimable' ? await rewards.rewardProof(c.beneficiary).catch(() => null) : null;
      res.json({ ...c, timeline: contributionTimeline(c), proof });
    }),
  );
  app.get(
    '/api/dashboard',
    route(async (_req, res) => void res.json(await dashboardState())),
  );
  app.post(
    '/rpc',
    json,
    route(async (req, res) => {
      checkRpcRequest(req.body, deps.chain.distributor);
      const upstream = await fetch(deps.chainRpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req.body) });
      res
        .status(upstream.status)
        .type('application/json')
        .send(await upstream.text());
    }),
  );
  if (deps.routes) app.use(deps.routes);
  if (existsSync(deps.webDir)) app.use(express.static(deps.webDir, { index: 'index.html' }));
  else app.get('/', (_req, res) => void res.status(503).send('The web app is not built: run `npm run build` (npm start does it for you).'));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; message?: string };
    if (e?.type === 'entity.too.large')
      return void res
        .status(413)
        .json({ error: { code: 'TOO_LARGE', message: `request body exceeds the size limit of ${(err as { limit?: number }).limit} bytes` } });
    if (e?.type === 'entity.parse.failed') return sendError(res, new IdlegradError('BAD_MESSAGE', 'request body is not valid JSON'));
    sendError(res, err);
  });

  async function dashboardState(): Promise<DashboardState> {
    return {
      run: {
        id: engine.run.id,
        name: engine.run.name,
        round: engine.round,
        modelHash: engine.modelHash,
        paramCount: engine.run.paramCount,
        status: engine.status,
        preset: engine.run.preset,
      },
      volunteers: engine.volunteers,
      rounds: await ledger.rounds(engine.run.id),
      epochs: await ledger.epochs(),
      chain: deps.chain,
      verification: await ledger.verificationStates(engine.run.id),
      insights: await deps.insights?.(),
      validator: deps.validator?.(),
      partners: await ledger.partners(engine.run.id, 20),
      flagged: await flaggedSummary(ledger.sql, engine.run.id),
      epochPosting: deps.epochPosting?.(),
    };
  }

  // The volunteer/dashboard protocol.
  const run = engine.run;
  const wss = new WebSocketServer({ noServer: true, maxPayload: wsMaxPayload(run) });
  const sockets = new Map<number, { ws: WebSocket; session: Session | null; dashboard: boolean; stopIce?: () => void }>();
  let nextId = 1;
  let accepting = true;
  const stopBeats = [wss, peerWss].map((w) => keepSocketsAlive(w, deps.heartbeatMs ?? 30_000));
  server.on('upgrade', (req, socket, head) => {
    if (!accepting) return void socket.destroy();
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/ws') wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    else if (path.startsWith('/peerjs')) peerWss.handleUpgrade(req, socket, head, (ws) => peerWss.emit('connection', ws, req));
    else socket.destroy();
  });

  const limits = deps.limits ?? DEFAULT_SURFACE_LIMITS;
  const perIp = new SessionCounter(limits);
  wss.on('connection', (ws: WebSocket, req: import('node:http').IncomingMessage) => {
    // A relayed frame goes as its binary message (shared/wire/relay.ts), everything else as JSON.
    const send = (m: ServerMessage) => {
      if (ws.readyState !== ws.OPEN) return;
      if (m.type === 'relayed-frame') return ws.send(encodeRelayedFrame(m));
      ws.send(utf8Once(m), { binary: false });
    };
    const ip = clientAddress(req, trustedProxies);
    const admitted = perIp.admit(ip);
    if (!admitted.ok) {
      send({ type: 'error', code: 'LIMIT_EXCEEDED', message: `too many connections from one address (at most ${admitted.limit})` });
      return void ws.close(1008, 'too many connections');
    }
    const id = nextId++;
    const challenge = randomBytes(16).toString('hex');
    const entry: { ws: WebSocket; session: Session | null; dashboard: boolean; stopIce?: () => void } = { ws, session: null, dashboard: false };
    sockets.set(id, entry);
    // A socket that never says hello (or subscribes, for a dashboard) is not kept open.
    const helloTimer = setTimeout(() => {
      if (entry.session || entry.dashboard) return;
      send({ type: 'error', code: 'PEER_TIMEOUT', message: `no hello within ${limits.helloTimeoutMs} ms` });
      ws.close(1008, 'hello timeout');
    }, limits.helloTimeoutMs);
    const withinRate = messageBucket(limits, ip);
    send({
      type: 'challenge',
      challenge,
      serverTime: Date.now(),
      session: { run: engine.run.id, chainId: engine.domain.chainId, distributor: engine.domain.verifyingContract },
    });
    let chain = Promise.resolve();
    let refusedNonce: string | undefined;
    ws.on('message', (data, isBinary) => {
      if (!withinRate())
        return send({
          type: 'error',
          code: 'LIMIT_EXCEEDED',
          message: 'too many messages per second on one connection (IDLEGRAD_LIMITS): message not handled',
        });
      // Handle one message at a time per socket, in arrival order.
      chain = chain
        .then(() => (isBinary ? handleRelay(data) : handle(data.toString())))
        .catch((e) => {
          if (!isIdlegradError(e)) console.error('[ws]', e);
          if (refusedNonce) deps.metrics?.report(isIdlegradError(e) ? e.code : 'INTERNAL');
          // ref: the report's nonce, so the client's outbox knows which report was refused.
          send({
            type: 'error',
            code: isIdlegradError(e) ? e.code : 'INTERNAL',
            message: isIdlegradError(e) ? e.shortMessage : 'internal error',
            ...(refusedNonce ? { ref: refusedNonce } : {}),
          });
          refusedNonce = undefined;
        });
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      perIp.release(ip);
      sockets.delete(id);
      entry.stopIce?.();
      if (entry.session) {
        engine.removeSession(entry.session.id);
        deps.metrics?.sessionClosed();
      }
    });
    ws.on('error', () => ws.close());

    /** The one binary message a page sends: a relay of its own frame. */
    function handleRelay(data: import('ws').RawData): void {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      const msg = decodeRelay(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (!entry.session) throw new IdlegradError('BAD_MESSAGE', 'relay before hello');
      engine.handleRelay(entry.session, msg);
    }

    async function handle(text: string): Promise<void> {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new IdlegradError('BAD_MESSAGE', 'message is not valid JSON');
      }
      // A report refused at the edge (malformed, or signed under an older protocol: SCHEMA_MISMATCH)
      // still names its nonce, so the page's outbox settles it instead of resending it forever.
      const claimed = (raw as { type?: unknown; contribution?: { nonce?: unknown } } | null) ?? {};
      if (claimed.type === 'report' && typeof claimed.contribution?.nonce === 'string' && /^[0-9]{1,20}$/.test(claimed.contribution.nonce))
        refusedNonce = claimed.contribution.nonce;
      const msg = parseClientMessage(raw);
      switch (msg.type) {
        case 'hello': {
          if (msg.protocol !== PROTOCOL_VERSION)
            throw new IdlegradError('SCHEMA_MISMATCH', `protocol ${msg.protocol} is not supported (expected ${PROTOCOL_VERSION})`);
          if (entry.session) throw new IdlegradError('DUPLICATE', 'hello was already received on this connection');
          assertLowS(msg.signature, 'hello');
          // Recovered on the engine's recovery thread (libsecp256k1), as viem's verifyMessage would recover it.
          const signer = await engine.helloSigner(helloMessage(challenge, msg.peerId), msg.signature).catch(() => null);
          if (signer !== msg.address.toLowerCase()) throw new IdlegradError('BAD_SIGNATURE', `hello signature does not prove ownership of ${msg.address}`);
          // Every report of this connection is signed by the session key certified here (shared/session-key.ts).
          const sessionKey = await engine.certifySession(msg.address, challenge, msg.session);
          if (entry.session) throw new IdlegradError('DUPLICATE', 'hello was already received on this connection');
          entry.session = { id, address: msg.address, peerId: msg.peerId, ready: false, send, partner: msg.partner ?? null, device: msg.device, sessionKey };
          engine.addSession(entry.session);
          deps.metrics?.sessionOpened();
          const ice = keepIceFresh(deps.ice ?? NO_ICE, msg.address, (grant) => send({ type: 'ice', ice: grant, serverTime: Date.now() }));
          entry.stopIce = ice.stop;
          send({
            type: 'welcome',
            run: engine.run,
            round: engine.round,
            modelHash: engine.modelHash,
            chain: deps.chain,
            serverTime: Date.now(),
            ice: ice.first,
          });
          send({ type: 'account', summary: await rewards.summary(msg.address) });
          return;
        }
        case 'start':
        case 'stop':
          if (!entry.session) throw new IdlegradError('BAD_MESSAGE', `${msg.type} before hello`);
          engine.setReady(id, msg.type === 'start');
          return;
        case 'report': {
          refusedNonce = msg.contribution.nonce;
          if (!entry.session) throw new IdlegradError('BAD_MESSAGE', 'report before hello');
          const { note } = await engine.handleReport(entry.session, msg);
          send({ type: 'ack', nonce: msg.contribution.nonce, state: 'pending', reason: note });
          deps.metrics?.report('acked');
          refusedNonce = undefined;
          return;
        }
        case 'relay':
          if (!entry.session) throw new IdlegradError('BAD_MESSAGE', 'relay before hello');
          engine.handleRelay(entry.session, msg); // never reached: a relay is binary, and its JSON form is refused by the parser
          return;
        case 'announce':
          if (!entry.session) throw new IdlegradError('BAD_MESSAGE', 'announce before hello');
          engine.handleAnnounce(entry.session, msg);
          return;
        case 'bind': {
          if (!entry.session) throw new IdlegradError('BAD_MESSAGE', 'bind before hello');
          await bindWallet(ledger, engine.domain, entry.session.address, delegationFromJson(msg.delegation), msg.signature, Math.floor(Date.now() / 1000));
          send({ type: 'account', summary: await rewards.summary(entry.session.address) });
          return;
        }
        case 'subscribe':
          entry.dashboard = true;
          send({ type: 'dashboard', state: await dashboardState() });
          return;
        default: {
          const never: never = msg;
          throw new IdlegradError('BAD_MESSAGE', `unhandled message ${JSON.stringify(never)}`);
        }
      }
    }
  });

  const api: ApiServer = {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as { port: number }).port));
      }),
    async broadcastDashboard() {
      const subs = [...sockets.values()].filter((s) => s.dashboard);
      if (subs.length === 0) return;
      const msg = JSON.stringify({ type: 'dashboard', state: await dashboardState() } satisfies ServerMessage);
      for (const s of subs) if (s.ws.readyState === s.ws.OPEN) s.ws.send(msg);
    },
    async pushAccounts(accounts) {
      const wanted = new Set(accounts.map((a) => a.toLowerCase()));
      const targets = [...sockets.values()].filter((s) => s.session && wanted.has(s.session.address));
      if (targets.length === 0) return;
      const summaries = await rewards.summaries(targets.map((s) => s.session!.address));
      // In slices of the loop (coordinator/slices.ts): every member of a 5,000-session round at once held it for ~0.3 s.
      await forEachInSlices(targets, (s) => {
        const summary = summaries.get(s.session!.address);
        if (summary) s.session!.send({ type: 'account', summary });
      });
    },
    stopAccepting() {
      accepting = false;
      server.close();
    },
    close: async (going) => {
      for (const stop of stopBeats) stop();
      if (going) {
        const all = [...[...sockets.values()].map((s) => s.ws), ...peerWss.clients];
        const closed = Promise.all(all.map((ws) => new Promise((r) => (ws.readyState === ws.CLOSED ? r(null) : ws.once('close', r)))));
        for (const ws of all) ws.close(going.code, going.reason);
        await Promise.race([closed, new Promise((r) => setTimeout(r, 1_000))]);
      }
      return new Promise((resolve) => {
        for (const s of sockets.values()) s.ws.terminate();
        for (const c of peerWss.clients) c.terminate();
        wss.close();
        peerWss.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
  return api;
}
