// `npm start`: the platform on its embedded defaults. Ctrl-C (SIGINT) or SIGTERM stops
// everything it started (anvil included) before the process exits.
import { configFromEnv } from './config.ts';
import { startPlatform } from './platform.ts';

const cfg = configFromEnv(process.env);
const platform = await startPlatform(cfg).catch((e: Error) => {
  console.error(`idlegrad failed to start: ${e.message}`);
  process.exit(1);
});

console.log(`
idlegrad is running (run ${platform.run.id} "${platform.run.name}", round ${platform.engine.round}, chain ${platform.chain.chainId})

  Volunteer page  ${platform.url}
  Dashboard       ${platform.dashboardUrl}
  Embed snippet   ${platform.embedSnippet}
  Lead token      ${platform.leadToken}   (Authorization: Bearer …; paste it in the dashboard's lead panel)

  Ledger: ${cfg.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${cfg.dataDir}/ledger`}   Chain: ${cfg.rpcUrl ? cfg.rpcUrl : 'embedded anvil'}
  Press Ctrl-C to stop.
`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${sig}: stopping…`);
    platform.stop().then(
      () => process.exit(0),
      (e) => {
        console.error(e);
        process.exit(1);
      },
    );
  });
}
