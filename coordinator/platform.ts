// Starts the whole platform in one process tree: ledger, chain (embedded anvil or
// RPC_URL), the default run, the round engine and the HTTP/WebSocket/PeerServer.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Hex } from 'viem';
import { isGptPreset, keepsInnerState, runSpecOf, modelOf, type RunSpec } from '../shared/config.ts';
import { initParams } from '../shared/model.ts';
import { runModelHash } from '../shared/model-hash.ts';
import { eip712Domain } from '../shared/eip712.ts';
import { innerStateBytes, type ChainInfo } from '../shared/wire/index.ts';
import { openDatabase, Ledger, PartnerRegistry, RunTable, runInsights, type Sql } from './db/index.ts';
import { hostname } from 'node:os';
import { loadMnist, readTextFile, TextStore, checkRunData, runData } from './data/index.ts';
import { startAnvil, embeddedOwner, type Anvil, connectChain, type ChainAddresses, type Chain } from './chain/index.ts';
import { RoundEngine } from './round/index.ts';
import { Rewards, epochPolicy, EpochPoster, EpochFiles, Faucet } from './rewards/index.ts';
import { createApiServer, type ApiServer, BadRequest, leadRoutes, resolveLeadToken, RunConflict, trustedProxiesOf, type RunControl } from './http/index.ts';
import { checkFigures, EvidenceDesk, Validator, verificationOf, Quarantine } from './verify/index.ts';
import type { PlatformConfig } from './config.ts';
import express from 'express';
import { IdlegradError } from '../shared/errors.ts';
import { drain, OpsMetrics, opsRoutes, reportLoopBlocks, rpcCheck, type DrainResult, type ReadinessCheck, type Role } from './ops/index.ts';

export const DEFAULT_RUN_ID = 1;

export interface Platform {
  url: string;
  dashboardUrl: string;
  embedSnippet: string;
  engine: RoundEngine;
  ledger: Ledger;
  chain: Chain;
  run: RunSpec;
  validator: Validator;
  /** Bearer token for the lead's routes (coordinator/http/lead.ts). */
  leadToken: string;
  control: RunControl;
  /** Counted from the running platform (coordinator/ops/metrics.ts), served at /metrics. */
  metrics: OpsMetrics;
  /** Graceful shutdown (coordinator/ops/shutdown.ts): stop accepting, commit the open round, close sockets; then stop(). */
  drain(signal: 'SIGTERM' | 'SIGINT', timeoutMs: number): Promise<DrainResult>;
  stop(): Promise<void>;
}

function loadAddresses(file: string): ChainAddresses | undefined {
  if (!existsSync(file)) return undefined;
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { token: Hex; distributor: Hex; deployBlock: string };
  return { token: raw.token, distributor: raw.distributor, deployBlock: BigInt(raw.deployBlock) };
}

/**
 * The whole platform on `cfg`. `role`: what /readyz reports (coordinator/ops/health.ts), with
 * the role's own checks; a cluster's leader passes its lease check (coordinator/cluster.ts).
 */
/** Cluster mode's round hookup (coordinator/cluster/leader-bus.ts), loaded only when IDLEGRAD_NATS_URL is set: `npm start` never loads the NATS client. */
async function clusterRound(
  natsUrl: string,
  runId: number,
  state: { round: number; modelHash: Hex },
  sql: Sql,
  ttlMs: number | undefined,
  log: (line: string) => void,
) {
  const { leaderBus } = await import('./cluster/index.ts');
  return leaderBus(sql, {
    natsUrl,
    runId,
    round: state.round,
    modelHash: state.modelHash,
    holder: `${hostname()}:${process.pid}`,
    ttlMs,
    log,
    onDeposed: (why) => {
      // Another committer holds the run now: stop rather than commit beside it (the fence refuses it anyway).
      log(`cluster: deposed as committer (${why}); exiting`);
      process.exit(1);
    },
  });
}

export async function startPlatform(
  cfg: PlatformConfig,
  log: (line: string) => void = console.log,
  scrub?: (s: string) => string,
  role?: { role: Role; checks: ReadinessCheck[] },
): Promise<Platform> {
  const dataDir = resolve(cfg.dataDir);
  const metrics = new OpsMetrics();
  let draining = false;
  mkdirSync(dataDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((e) => console.error('[stop]', e));
  };
  try {
    // Each run's data follows its preset (coordinator/data/run-data.ts): MNIST, loaded once on
    // first use, or the run's text from the store (IDLEGRAD_TEXT is put there for the default run).
    const texts = new TextStore(join(dataDir, 'texts'));
    let mnist: ReturnType<typeof loadMnist> | null = null;
    const loadMnistOnce = () => (mnist ??= loadMnist());
    const defaultText = cfg.textPath ? readTextFile(cfg.textPath) : null;
    const defaultTextId = defaultText ? texts.put(defaultText).id : null;
    // Every ledger statement timed (idlegrad_ledger_seconds).
    const sql = metrics.timedSql(await openDatabase({ dataDir: join(dataDir, 'ledger'), databaseUrl: cfg.databaseUrl }));
    stops.push(() => sql.close());
    const ledger = new Ledger(sql);

    let anvil: Anvil | null = null;
    let rpcUrl = cfg.rpcUrl;
    if (!rpcUrl) {
      anvil = await startAnvil({ dataDir: join(dataDir, 'chain') });
      stops.push(() => anvil!.stop());
      rpcUrl = anvil.rpcUrl;
    }
    const rpcEndpoint: string = rpcUrl;
    const addressFile = join(dataDir, cfg.rpcUrl ? 'contracts.rpc.json' : 'contracts.anvil.json');
    // The distributor's owner: DEPLOYER_KEY, or on the embedded chain this data directory's own key (coordinator/owner-key.ts).
    const addresses = loadAddresses(addressFile);
    const deployerKey = cfg.deployerKey ?? (anvil ? await embeddedOwner({ dataDir, rpcUrl, addresses, log }) : undefined);
    if (!deployerKey) throw new Error('RPC_URL is set without DEPLOYER_KEY: the coordinator needs a key to deploy and post reward roots');
    const chain = await connectChain({ rpcUrl, deployerKey, cacheDir: join(dataDir, 'solc'), addresses, pollingInterval: 100 });
    if (chain.deployedNow) {
      writeFileSync(addressFile, JSON.stringify({ ...chain.addresses, deployBlock: chain.addresses.deployBlock.toString() }, null, 2));
    }

    // The current run (the newest in the ledger), resumed; or the default run, created from the settings.
    const runs = new RunTable(sql);
    const latest = await runs.latest();
    if (!latest) {
      const { dataset } = runData(cfg.run, isGptPreset(cfg.run.preset) ? defaultText : null, loadMnistOnce);
      const run = runSpecOf(DEFAULT_RUN_ID, cfg.run, dataset);
      const params = initParams(modelOf(run), run.seed);
      await ledger.createRun(run, { round: 0, modelHash: await runModelHash(run, params), params, momentum: new Float32Array(params.length) });
    }
    const browserChain: ChainInfo = { chainId: chain.chainId, distributor: chain.distributor, token: chain.token, rpcUrl: '/rpc' };
    if (cfg.walletConnectProjectId) browserChain.walletConnect = { projectId: cfg.walletConnectProjectId, relayUrl: cfg.walletConnectRelayUrl };
    if (cfg.explorerUrl) browserChain.explorerUrl = cfg.explorerUrl;
    if (cfg.chainName) browserChain.chainName = cfg.chainName;
    const leadToken = resolveLeadToken(dataDir, cfg.leadToken);

    // Everything bound to one run (rewards, validator, engine, the HTTP/WebSocket server) is
    // one host; a run created by the lead replaces it on the same port (volunteers reconnect).
    interface RunHost {
      run: RunSpec;
      engine: RoundEngine;
      validator: Validator;
      api: ApiServer;
      stop(): Promise<void>;
    }
    let host: RunHost | null = null;
    // /healthz, /readyz (the ledger answers, the chain's RPC answers, not draining) and /metrics, on every run's server.
    const ledgerCheck: ReadinessCheck = { name: 'ledger', check: async () => void (await runs.latest()) };
    const opsRouter = opsRoutes({ metrics, checks: () => [ledgerCheck, rpcCheck(rpcEndpoint, 2_000)], draining: () => draining, role, scrub });
    let port = cfg.port;
    let swapping = false;
    const control: RunControl = {
      current: () => ({ run: host!.run, status: host!.engine.status }),
      async create(settings, data) {
        if (swapping) throw new RunConflict('a new run is starting; try again when the dashboard shows it');
        swapping = true;
        try {
          // The run's data first: a text that is missing or too short is the lead's to fix, and nothing is written.
          let dataset: RunSpec['dataset'];
          try {
            dataset = runData(settings, data?.text === undefined ? null : texts.get(data.text), loadMnistOnce).dataset;
          } catch (e) {
            throw new BadRequest((e as Error).message);
          }
          const run = runSpecOf(await runs.nextId(), settings, dataset);
          const params = initParams(modelOf(run), run.seed);
          const old = host!;
          await ledger.createRun(run, { round: 0, modelHash: await runModelHash(run, params), params, momentum: new Float32Array(params.length) });
          await runs.setStatus(run.id, 'active', 'create');
          if (old.engine.status !== 'stopped') await runs.setStatus(old.run.id, 'stopped', 'stop');
          old.engine.setStatus('stopped');
          log(`lead: run ${run.id} "${run.name}" created; run ${old.run.id} stopped`);
          // Answer the request first: the old server (and its sockets) closes with the swap.
          setTimeout(
            () =>
              void swapTo(run.id)
                .catch((e: Error) => log(`lead: could not start run ${run.id}: ${e.message}`))
                .finally(() => (swapping = false)),
            50,
          );
          return run;
        } catch (e) {
          swapping = false;
          throw e;
        }
      },
      async setStatus(runId, status) {
        await runs.setStatus(runId, status, status === 'active' ? 'resume' : status === 'paused' ? 'pause' : 'stop');
        host!.engine.setStatus(status);
        log(`lead: run ${runId} ${status}`);
        void host!.api.broadcastDashboard();
      },
    };
    // Epoch files are the ledger's, not one run's: one store for every run this process hosts,
    // kept under the data directory so that a file and its hash outlive a restart.
    const epochFiles = new EpochFiles(sql, { chainId: chain.chainId, distributor: chain.distributor }, join(dataDir, 'epochs'));
    // The partners the lead registered: only they earn credit for their widgets' reports.
    const partners = new PartnerRegistry(sql);
    await partners.load();
    const swapTo = async (runId: number) => {
      const old = host;
      host = null;
      await old?.stop();
      host = await hostRun(runId);
      log(`lead: now hosting run ${runId} "${host.run.name}"`);
    };

    async function hostRun(runId: number): Promise<RunHost> {
      const loaded = (await ledger.loadRun(runId))!;
      const hostStops: (() => Promise<void>)[] = [];
      // Cluster mode (IDLEGRAD_NATS_URL): the committer lease, a ledger fenced by it, the bus journal, and a predecessor's open round.
      const cluster = cfg.natsUrl ? await clusterRound(cfg.natsUrl, runId, loaded.state, sql, cfg.committerTtlMs, log) : null;
      if (cluster) hostStops.push(() => cluster.stop());
      // A round left open is aborted, unless the bus holds it: then the engine resumes it below.
      const aborted = await ledger.abortPending(runId, cluster?.open ? loaded.state.round - 1 : loaded.state.round);
      if (aborted) log(`ledger: ${aborted} contributions of an interrupted round marked rejected (ROUND_ABORTED)`);
      if (loaded.state.round > 0) log(`resumed run ${runId} at round ${loaded.state.round} (${loaded.state.modelHash.slice(0, 10)}…)`);
      const { spec: run, state } = loaded;
      // A text run made before texts were stored by id has none recorded: that is IDLEGRAD_TEXT's.
      const textOf = (): Uint8Array => {
        const id = run.dataset.text ?? defaultTextId;
        if (!id) throw new Error(`run ${runId} is a GPT run and its text is unknown: set IDLEGRAD_TEXT to the file it trains on`);
        return texts.get(id, `run ${runId} text`);
      };
      const data = runData(run, isGptPreset(run.preset) ? textOf() : null, loadMnistOnce);
      checkRunData(run, data);
      const { train, test } = data;
      let api: ReturnType<typeof createApiServer> | null = null;
      const rewards = new Rewards(
        ledger,
        {
          chainId: chain.chainId,
          rpcUrl: rpcEndpoint,
          distributor: chain.distributor,
          token: chain.token,
          postEpoch: (e, root, modelHash) => chain.postEpoch(e, root, modelHash),
          fundGas: async (a, wei) => (await chain.fundGas(a, wei)).txHash,
        },
        run,
        (epoch) => {
          log(`epoch ${epoch} posted`);
          // Its published file is stored now, from the ledger as it stands at the post.
          epochFiles.file(epoch).catch((e: Error) => log(`epoch ${epoch}: its file could not be stored: ${e.message}`));
          metrics.epochPosted();
          void api?.broadcastDashboard();
        },
        cfg.hooks?.epoch,
      );
      // Posting failures are retried with backoff and shown on the dashboard, never thrown (coordinator/epoch-poster.ts).
      const poster: EpochPoster = new EpochPoster(rewards, sql, {
        epochRounds: run.rewards.epochRounds,
        runId,
        log,
        changed: () => {
          // Called after every attempt: a failing status here is the attempt that just failed.
          if (poster.status.failing) metrics.epochFailed();
          void api?.broadcastDashboard();
        },
      });
      hostStops.push(async () => poster.stop());
      // An epoch opened by a coordinator that died before recording its transaction.
      const reconciled = await rewards.reconcile().catch((e: Error) => {
        log(`rewards: could not reconcile unposted epochs yet (${e.message}); the next epoch retries`);
        return [];
      });
      if (reconciled.length) log(`rewards: reconciled unposted epoch(s) ${reconciled.join(', ')} with the chain`);
      let engineRef: RoundEngine | null = null;
      // Uploads are hashed on the round engine's upload thread, off the event loop (nothing asks before the engine runs).
      const desk = new EvidenceDesk(
        run.paramCount,
        verificationOf(run).evidenceTimeoutMs,
        Date.now,
        log,
        async (body) => {
          if (!engineRef) throw new IdlegradError('NOT_FOUND', 'no round engine runs yet to check evidence');
          return engineRef.evidenceDigests(body);
        },
        keepsInnerState(run) ? innerStateBytes(run.paramCount) : 0,
      );
      const quarantine = new Quarantine(ledger);
      if (await quarantine.load()) log(`quarantine: ${quarantine.size} identities with a negative reputation train apart`);
      const validator = new Validator({
        run,
        ledger,
        train,
        heldOut: test,
        log,
        evidence: desk.source(
          (c, deadline, needs) =>
            engineRef?.sendTo(c.account, { type: 'verify', run: run.id, round: c.round, frameHash: c.frameHash, needs, deadline, serverTime: Date.now() }) ??
            false,
        ),
        onChecked: (c, r) => {
          log(
            `validator: contribution ${c.id} (${c.account.slice(0, 10)}…, round ${c.round}) ${r.passed ? 'verified' : `rejected: ${r.rejection.code}: ${r.rejection.prose}`}${checkFigures(r)}, backlog ${validator.backlog - 1}`,
          );
          metrics.checked(r.passed ? 'verified' : r.rejection.code);
          void quarantine.refresh(c.account).catch((e: Error) => log(`quarantine: ${e.message}`));
          void api?.pushAccounts([c.account]);
        },
      });
      const afterCommit = epochPolicy(run, {
        checksSettled: (ms) => validator.idle(ms),
        // Never rejects: a failed post is retried with backoff and shown on the dashboard (coordinator/epoch-poster.ts).
        postEpoch: (round, modelHash) => poster.afterCommit(round, modelHash),
        creditedAccounts: async () => (await ledger.cumulativeCredit()).map((c) => c.account),
        pushAccounts: (accounts) => api?.pushAccounts(accounts),
      });
      const engine = new RoundEngine(run, state, cluster?.ledger ?? ledger, test, eip712Domain(chain.chainId, chain.distributor), {
        journal: cluster?.journal,
        committed: (s) => {
          log(
            `round ${s.round} committed: ${s.contributions} contributions, held-out accuracy ${(s.heldOutAccuracy * 100).toFixed(1)}%, loss ${s.heldOutLoss.toFixed(3)}, h=${s.modelHash.slice(0, 10)}…`,
          );
          void api?.broadcastDashboard();
          void afterCommit(s).catch((e: Error) => log(`rewards: after round ${s.round}: ${e.message}`));
        },
        accountsChanged: (accounts) => void api?.pushAccounts(accounts),
        verify: (round, thetaR, ids) => validator.afterCommit(round, thetaR, ids),
        quarantined: (account) => quarantine.has(account),
        phase: (phase) => {
          metrics.roundPhase(phase);
          // The first round's checks come after its commit: the re-execution thread starts meanwhile.
          if (phase === 'open') void validator.warm();
        },
        decided: (accepted, rejected) => metrics.decided(accepted, rejected),
        commitPhases: (c) => metrics.commitPhases(c),
        partnerRegistered: (id) => partners.has(id),
        settled: (w) =>
          log(
            `round ${w.round}: the commit waited ${w.waitedMs.toFixed(0)} ms for ${w.waitedFor} reports and uploads in flight when it closed${w.leftOver ? ` (${w.leftOver} still in flight: refused STALE_ROUND)` : ''}`,
          ),
      });
      metrics.live = { validatorBacklog: () => validator.backlog, epochPostingFailing: () => poster.status.failing };
      // A loop held for a second or more is logged (issue 18: PeerServer drops sockets whose heartbeats wait).
      const stopLoopReport = reportLoopBlocks((ms) => log(`event loop: held (or the process starved) for ${ms.toFixed(0)} ms, until now`));
      hostStops.push(async () => stopLoopReport());
      engineRef = engine;
      hostStops.push(() => validator.stop());
      hostStops.push(async () => engine.stop());
      if (cluster?.open) {
        const { opening, reports, aggregates } = cluster.open;
        const r = await engine.resumeRound(opening, reports, aggregates);
        const codes = r.refused.map((x) => x.code).join(', ');
        log(
          `cluster: resumed round ${r.round} from the bus: ${r.reports} reports, ${r.aggregates} aggregates${r.refused.length ? `, ${r.refused.length} refused (${codes})` : ''}; it commits at its report deadline or once every member is in`,
        );
      }
      engine.setStatus((await runs.status(runId)) ?? 'active');
      api = createApiServer({
        engine,
        ledger,
        rewards,
        train,
        evidence: desk,
        faucet: new Faucet({
          sql,
          enabled: cfg.faucet ?? !cfg.rpcUrl,
          claimable: (a) => rewards.claimable(a),
          send: (a, wei) => rewards.chain.fundGas(a, wei),
        }),
        webDir: resolve(cfg.webDir),
        chainRpcUrl: rpcEndpoint,
        chain: browserChain,
        // The published inputs of every posted epoch, for `npm run audit` (coordinator/rewards/epoch-file.ts).
        routes: express.Router().use(opsRouter, leadRoutes({ token: leadToken, control, engine, texts, partners }), epochFiles.routes()),
        metrics,
        heartbeatMs: cfg.heartbeatMs,
        partnerOrigins: (id) => partners.origins(id),
        insights: () => runInsights(sql, run),
        validator: () => validator.status(),
        ice: cfg.ice,
        epochPosting: () => poster.status,
        limits: cfg.limits,
        trustedProxies: trustedProxiesOf(cfg.trustedProxies),
      });
      port = await api.listen(port, cfg.host);
      // After listen: a resumed check's evidence deadline starts once its member can reconnect.
      const resumed = await validator.resume();
      if (resumed) log(`validator: ${resumed} spot checks resumed after a restart`);
      hostStops.push(() => api!.close());
      return {
        run,
        engine,
        validator,
        api: api!,
        stop: async () => {
          for (const s of hostStops.reverse()) await s().catch((e) => console.error('[stop]', e));
        },
      };
    }

    host = await hostRun((await runs.latest())!.id);
    stops.push(async () => {
      await host?.stop();
    });
    const address = cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host;
    const url = `http://${address}:${port}/`;
    return {
      url,
      dashboardUrl: `${url}dashboard.html`,
      embedSnippet: `<script src="${url}embed.js" async></script> <idlegrad-widget run="${host!.run.id}" partner="YOUR-SITE"></idlegrad-widget>`,
      get engine() {
        return host!.engine;
      },
      ledger,
      chain,
      get run() {
        return host!.run;
      },
      get validator() {
        return host!.validator;
      },
      leadToken,
      control,
      metrics,
      async drain(signal, timeoutMs) {
        draining = true;
        const h = host;
        if (!h) return { roundFinished: true, committedRound: null, ms: 0 };
        return drain(
          { stopAccepting: () => h.api.stopAccepting(), finishRound: () => h.engine.drain(), closeSockets: (going) => h.api.close(going) },
          { signal, timeoutMs, log },
        );
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
