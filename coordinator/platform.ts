// Starts the whole platform in one process tree: ledger, chain (embedded anvil or
// RPC_URL), the default run, the round engine and the HTTP/WebSocket/PeerServer.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Hex } from 'viem';
import { runSpecOf, modelOf, type RunSpec } from '../shared/config.ts';
import { hashParams, initParams } from '../shared/model.ts';
import { eip712Domain } from '../shared/eip712.ts';
import type { ChainInfo } from '../shared/protocol.ts';
import { openDatabase } from './db/sql.ts';
import { Ledger } from './db/ledger.ts';
import { loadMnist } from './data/mnist.ts';
import { startAnvil, DEV_DEPLOYER_KEY, type Anvil } from './chain/anvil.ts';
import { connectChain, type ChainAddresses, type Chain } from './chain/chain.ts';
import { RoundEngine } from './engine.ts';
import { Rewards } from './rewards.ts';
import { createApiServer } from './server.ts';
import { EvidenceDesk, Validator, verificationOf } from './validator.ts';
import { Quarantine } from './quarantine.ts';
import type { PlatformConfig } from './config.ts';

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
  stop(): Promise<void>;
}

function loadAddresses(file: string): ChainAddresses | undefined {
  if (!existsSync(file)) return undefined;
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { token: Hex; distributor: Hex; deployBlock: string };
  return { token: raw.token, distributor: raw.distributor, deployBlock: BigInt(raw.deployBlock) };
}

export async function startPlatform(cfg: PlatformConfig, log: (line: string) => void = console.log): Promise<Platform> {
  const dataDir = resolve(cfg.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((e) => console.error('[stop]', e));
  };
  try {
    const { train, test } = loadMnist();
    const sql = await openDatabase({ dataDir: join(dataDir, 'ledger'), databaseUrl: cfg.databaseUrl });
    stops.push(() => sql.close());
    const ledger = new Ledger(sql);

    let anvil: Anvil | null = null;
    let rpcUrl = cfg.rpcUrl;
    if (!rpcUrl) {
      anvil = await startAnvil({ dataDir: join(dataDir, 'chain') });
      stops.push(() => anvil!.stop());
      rpcUrl = anvil.rpcUrl;
    }
    const addressFile = join(dataDir, cfg.rpcUrl ? 'contracts.rpc.json' : 'contracts.anvil.json');
    const chain = await connectChain({ rpcUrl, deployerKey: cfg.deployerKey ?? DEV_DEPLOYER_KEY, cacheDir: join(dataDir, 'solc'), addresses: loadAddresses(addressFile), pollingInterval: 100 });
    if (chain.deployedNow) {
      writeFileSync(addressFile, JSON.stringify({ ...chain.addresses, deployBlock: chain.addresses.deployBlock.toString() }, null, 2));
    }

    // The default run: resumed from the ledger, or created from the configured settings.
    let loaded = await ledger.loadRun(DEFAULT_RUN_ID);
    const dataset = { name: 'mnist' as const, trainCount: train.count, testCount: test.count, features: train.features, classes: train.classes };
    if (!loaded) {
      const run = runSpecOf(DEFAULT_RUN_ID, cfg.run, dataset);
      const params = initParams(modelOf(run), run.seed);
      await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
      loaded = await ledger.loadRun(DEFAULT_RUN_ID);
    } else {
      const aborted = await ledger.abortPending(DEFAULT_RUN_ID, loaded.state.round);
      if (aborted) log(`ledger: ${aborted} contributions of an interrupted round marked rejected (ROUND_ABORTED)`);
      log(`resumed run ${DEFAULT_RUN_ID} at round ${loaded.state.round} (${loaded.state.modelHash.slice(0, 10)}…)`);
    }
    const { spec: run, state } = loaded!;

    const browserChain: ChainInfo = { chainId: chain.chainId, distributor: chain.distributor, token: chain.token, rpcUrl: '/rpc' };
    let api: ReturnType<typeof createApiServer> | null = null;
    const rewards = new Rewards(
      ledger,
      {
        chainId: chain.chainId,
        rpcUrl,
        distributor: chain.distributor,
        token: chain.token,
        postEpoch: (e, root, modelHash) => chain.postEpoch(e, root, modelHash),
        fundGas: async (a, wei) => (await chain.fundGas(a, wei)).txHash,
      },
      run,
      (epoch) => {
        log(`epoch ${epoch} posted`);
        void api?.broadcastDashboard();
      },
    );
    // An epoch opened by a coordinator that died before recording its transaction.
    const reconciled = await rewards.reconcile().catch((e: Error) => {
      log(`rewards: could not reconcile unposted epochs yet (${e.message}); the next epoch retries`);
      return [];
    });
    if (reconciled.length) log(`rewards: reconciled unposted epoch(s) ${reconciled.join(', ')} with the chain`);
    const desk = new EvidenceDesk(run.paramCount, verificationOf(run).evidenceTimeoutMs);
    let engineRef: RoundEngine | null = null;
    const quarantine = new Quarantine(ledger.sql);
    if (await quarantine.load()) log(`quarantine: ${quarantine.size} identities with a negative reputation train apart`);
    const validator = new Validator({
      run, ledger, train, heldOut: test,
      evidence: desk.source((c, deadline) =>
        engineRef?.sendTo(c.account, { type: 'verify', run: run.id, round: c.round, frameHash: c.frameHash, deadline, serverTime: Date.now() }) ?? false),
      onChecked: (c, r) => {
        log(`validator: contribution ${c.id} (${c.account.slice(0, 10)}…, round ${c.round}) ${r.passed ? 'verified' : `rejected: ${r.reason}`}`);
        void quarantine.refresh(c.account).catch((e: Error) => log(`quarantine: ${e.message}`));
        void api?.pushAccounts([c.account]);
      },
    });
    const engine = new RoundEngine(run, state, ledger, test, eip712Domain(chain.chainId, chain.distributor), {
      committed: (s) => {
        log(`round ${s.round} committed: ${s.contributions} contributions, held-out accuracy ${(s.heldOutAccuracy * 100).toFixed(1)}%, h=${s.modelHash.slice(0, 10)}…`);
        void api?.broadcastDashboard();
        void rewards.afterCommit(s.round, s.modelHash).then(async () => {
          // After an epoch the accounts' claimable amounts change: push them.
          const accounts = (await ledger.cumulativeCredit()).map((c) => c.account);
          await api?.pushAccounts(accounts);
        });
      },
      accountsChanged: (accounts) => void api?.pushAccounts(accounts),
      verify: (round, thetaR, ids) => validator.afterCommit(round, thetaR, ids),
      quarantined: (account) => quarantine.has(account),
    });
    engineRef = engine;
    stops.push(async () => engine.stop());
    api = createApiServer({ engine, ledger, rewards, train, evidence: desk, webDir: resolve(cfg.webDir), chainRpcUrl: rpcUrl, chain: browserChain });
    const port = await api.listen(cfg.port, cfg.host);
    // After listen: a resumed check's evidence deadline starts once its member can reconnect.
    const resumed = await validator.resume();
    if (resumed) log(`validator: ${resumed} spot checks resumed after a restart`);
    stops.push(() => api!.close());
    const host = cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host;
    const url = `http://${host}:${port}/`;
    return {
      url,
      dashboardUrl: `${url}dashboard.html`,
      embedSnippet: `<script src="${url}embed.js" data-partner="YOUR-SITE" async></script>`,
      engine,
      ledger,
      chain,
      run,
      validator,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
