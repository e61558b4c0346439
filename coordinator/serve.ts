// The coordinator process (`npm start`, through main.ts): the platform on the given config,
// its URLs printed, and Ctrl-C (SIGINT) or SIGTERM stopping everything it started (anvil
// included) before the process exits. With DATABASE_URL the coordinator joins the cluster of
// that database (coordinator/cluster.ts): it leads, or follows the leader and takes over when
// it dies. Tests that inject hooks (e2e/faulty-main.ts) start it the same way.
import type { PlatformConfig } from './config.ts';
import { startPlatform, type Platform } from './platform.ts';
import { startClusterNode } from './cluster.ts';
import { keepServingOnFaults } from './process-handlers.ts';

export async function serve(cfg: PlatformConfig): Promise<void> {
  const failed = (e: Error): never => {
    console.error(`idlegrad failed to start: ${e.message}`);
    process.exit(1);
  };
  const node = cfg.databaseUrl ? await startClusterNode(cfg).catch(failed) : null;
  const platform: Platform | null = node ? node.platform() : await startPlatform(cfg).catch(failed);
  const stop = node ? node.stop : platform!.stop;
  // Once it serves, a fault in a callback is logged and the coordinator keeps serving (a startup failure above still exits).
  keepServingOnFaults();

  if (platform) {
    console.log(`
idlegrad is running (run ${platform.run.id} "${platform.run.name}", round ${platform.engine.round}, chain ${platform.chain.chainId})

  Volunteer page  ${platform.url}
  Dashboard       ${platform.dashboardUrl}
  Embed snippet   ${platform.embedSnippet}
  Lead token      ${platform.leadToken}   (Authorization: Bearer …; paste it in the dashboard's lead panel)

  Ledger: ${cfg.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${cfg.dataDir}/ledger`}   Chain: ${cfg.rpcUrl ? cfg.rpcUrl : 'embedded anvil'}
  Press Ctrl-C to stop.
`);
  } else {
    console.log(`
idlegrad is running as a follower: its volunteers are relayed to the leading coordinator,
and it takes over the run if that one stops.

  Volunteer page  ${node!.url}
  Dashboard       ${node!.url}dashboard.html

  Ledger: PostgreSQL (DATABASE_URL)   Chain: ${cfg.rpcUrl}
  Press Ctrl-C to stop.
`);
  }

  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${sig}: stopping…`);
      stop().then(
        () => process.exit(0),
        (e) => {
          console.error(e);
          process.exit(1);
        },
      );
    });
  }
}
