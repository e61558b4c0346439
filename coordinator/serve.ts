// The coordinator process (`npm start`, through main.ts): the platform on the given config,
// its URLs printed, and SIGTERM or Ctrl-C (SIGINT) draining it (coordinator/ops/shutdown.ts:
// stop accepting, commit the open round, close sockets with 1012/1001) and stopping everything
// it started (anvil included) before the process exits. With DATABASE_URL the coordinator
// joins the cluster of that database (coordinator/cluster.ts): it leads, or follows the leader
// and takes over when it dies. Tests that inject hooks (e2e/faulty-main.ts) start it the same way.
// Logs: one JSON object per line on stdout after the startup banner (coordinator/ops/logger.ts),
// with the lead token, keys and database URLs redacted.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PlatformConfig } from './config.ts';
import { startPlatform, type Platform } from './platform.ts';
import { startClusterNode } from './cluster.ts';
import { keepServingOnFaults } from './process-handlers.ts';
import { captureConsole, createLogger, lineLogger, Redactor } from './ops/index.ts';
import { LEAD_TOKEN_FILE } from './http/index.ts';

export async function serve(cfg: PlatformConfig): Promise<void> {
  const redactor = new Redactor();
  for (const secret of [cfg.leadToken, cfg.deployerKey, cfg.databaseUrl, cfg.ice.turn?.secret]) redactor.add(secret);
  const logger = createLogger({ level: cfg.logLevel, format: cfg.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json'), redactor });
  // Libraries and the coordinator's remaining console calls become records too: stdout stays JSON lines.
  captureConsole(logger);
  const log = lineLogger(logger);
  // Dawn's Vulkan loader (libwayland) writes "error: XDG_RUNTIME_DIR is invalid or not set" to
  // stderr, outside the JSON log stream, when the variable is unset (a container, a service): a
  // private runtime directory in the data directory keeps it quiet. A set one is left alone.
  if (!process.env.XDG_RUNTIME_DIR) {
    const runtimeDir = join(resolve(cfg.dataDir), 'runtime');
    mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = runtimeDir;
  }
  const failed = (e: Error): never => {
    logger.fatal({ err: e }, `idlegrad failed to start: ${e.message}`);
    process.exit(1);
  };
  const scrub = (s: string) => redactor.scrub(s);
  const node = cfg.databaseUrl ? await startClusterNode(cfg, log, { scrub }).catch(failed) : null;
  const platform: Platform | null = node ? node.platform() : await startPlatform(cfg, log, scrub).catch(failed);
  const stop = node ? node.stop : platform!.stop;
  if (platform) redactor.add(platform.leadToken);
  // Once it serves, a fault in a callback is logged and the coordinator keeps serving (a startup failure above still exits).
  keepServingOnFaults(lineLogger(logger, 'error'));

  // The banner is for the person who typed `npm start`; the record after it is the same for log processors.
  // The lead token itself is a secret and stays out of both: it is in its file (or IDLEGRAD_LEAD_TOKEN).
  const tokenAt = cfg.leadToken ? 'IDLEGRAD_LEAD_TOKEN' : join(resolve(cfg.dataDir), LEAD_TOKEN_FILE);
  const ledger = cfg.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${cfg.dataDir}/ledger`;
  const chain = cfg.rpcUrl ? redactor.scrub(cfg.rpcUrl) : 'embedded anvil';
  if (platform) {
    process.stdout.write(`
idlegrad is running (run ${platform.run.id} "${platform.run.name}", round ${platform.engine.round}, chain ${platform.chain.chainId})

  Volunteer page  ${platform.url}
  Dashboard       ${platform.dashboardUrl}
  Embed snippet   ${platform.embedSnippet}
  Lead token      in ${tokenAt}   (Authorization: Bearer …; paste it in the dashboard's lead panel)
  Operations      ${platform.url}healthz  ${platform.url}readyz  ${platform.url}metrics

  Ledger: ${ledger}   Chain: ${chain}
  Press Ctrl-C to stop.

`);
    logger.info(
      { component: 'start', run: platform.run.id, round: platform.engine.round, chainId: platform.chain.chainId, url: platform.url, ledger, chain },
      'idlegrad is running',
    );
  } else {
    process.stdout.write(`
idlegrad is running as a follower: its volunteers are relayed to the leading coordinator,
and it takes over the run if that one stops.

  Volunteer page  ${node!.url}
  Dashboard       ${node!.url}dashboard.html

  Ledger: ${ledger}   Chain: ${chain}
  Press Ctrl-C to stop.

`);
    logger.info({ component: 'start', role: 'follower', url: node!.url, ledger, chain }, 'idlegrad is running as a follower');
  }

  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) return void logger.warn({ component: 'shutdown' }, `${sig} again: already stopping`);
      stopping = true;
      logger.info({ component: 'shutdown', signal: sig, timeoutMs: cfg.shutdownTimeoutMs }, `${sig}: draining, then stopping`);
      // The leader's platform drains; a follower has no round or sockets of its own to drain.
      const leading = node ? node.platform() : platform;
      (leading ? leading.drain(sig, cfg.shutdownTimeoutMs) : Promise.resolve())
        .catch((e: Error) => logger.error({ component: 'shutdown', err: e }, `drain failed: ${e.message}`))
        .then(() => stop())
        .then(
          () => {
            logger.info({ component: 'shutdown' }, 'stopped');
            process.exit(0);
          },
          (e: Error) => {
            logger.error({ component: 'shutdown', err: e }, `stop failed: ${e.message}`);
            process.exit(1);
          },
        );
    });
  }
}
